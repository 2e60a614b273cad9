"""The live feed: each event is read and encoded once for every subscriber."""

from __future__ import annotations

import asyncio

import pytest

from fieldkit import feed as feed_module
from fieldkit.feed import EventFeed, Frame, sse_frames
from fieldkit.identity import NodeIdentity
from fieldkit.log import IncidentLog
from tests.conftest import LogFactory

SUBSCRIBERS = 20


@pytest.fixture
def log(make_log: LogFactory) -> IncidentLog:
    return make_log(NodeIdentity.generate("T01"))


def _feed(log: IncidentLog, reads: list[int]) -> EventFeed:
    async def read_frames(after: int) -> list[Frame]:
        frames = sse_frames(log, after)
        if frames:
            reads.append(len(frames))
        return frames

    async def read_cursor() -> int:
        return log.cursor()

    return EventFeed(read_cursor, read_frames)


async def _subscriber(feed: EventFeed, cursor: int) -> list[Frame]:
    assert await feed.wait_past(cursor, 30)
    frames = feed.frames_after(cursor)
    assert frames is not None
    return frames


async def test_one_read_and_one_encoding_serve_every_subscriber(log: IncidentLog):
    reads: list[int] = []
    feed = _feed(log, reads)
    await feed.start()
    try:
        start = feed.latest
        subscribers = [asyncio.create_task(_subscriber(feed, start))
                       for _ in range(SUBSCRIBERS)]
        log.create(title="Crush at gate 3", kind="crowd_density", severity=4)
        feed.wake()
        got = await asyncio.gather(*subscribers)
    finally:
        await feed.stop()
    assert reads == [1]  # one store read for all of them
    first = got[0][0]
    assert first[1].startswith(f"id: {first[0]}\nevent: create\ndata: ".encode())
    # The very same bytes object: encoded once, not once per subscriber.
    assert all(len(frames) == 1 and frames[0] is first for frames in got)


async def test_a_subscriber_behind_the_window_is_sent_to_the_store(
        log: IncidentLog, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(feed_module, "KEEP_FRAMES", 3)
    reads: list[int] = []
    feed = _feed(log, reads)
    await feed.start()
    try:
        incident = log.create(title="Crush at gate 3", kind="crowd_density", severity=4)
        for n in range(4):
            log.add_note(incident.id, f"note {n}")
        cursor = log.cursor()
        feed.wake()
        assert await feed.wait_past(cursor - 1, 30)
        assert feed.frames_after(0) is None  # five events, three kept: read the store
        kept = feed.frames_after(cursor - 3)
        assert kept is not None
        assert [a for a, _ in kept] == [cursor - 2, cursor - 1, cursor]
        assert kept == sse_frames(log, cursor - 3)  # what the store would have given
        assert feed.frames_after(cursor) == []
    finally:
        await feed.stop()
