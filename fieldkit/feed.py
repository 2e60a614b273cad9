"""The live event feed: reads each new event once and hands it to every stream reader.

Writers may be this process or another one (the CLI writes the same SQLite file), so
the feed watches the events table's arrival cursor rather than relying on callbacks;
a local write calls :meth:`EventFeed.wake` to skip the polling delay.

Fan-out costs one store read and one encoding per event, not one per subscriber: the
feed keeps the latest events as ready-made Server-Sent Event frames, and a subscriber
within that window takes its frames from memory (:meth:`EventFeed.frames_after`); only
one further behind (a console reconnecting after a long gap) reads the store itself.
Bursts are published together (at most every ``PUBLISH_INTERVAL_S``), so a burst of
writes costs each subscriber one socket write, not one per event.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from fieldkit.log import IncidentLog
from fieldkit.tasks import cancel_and_wait, wait_event

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25
#: Least time between two publications: writes meanwhile go out together.
PUBLISH_INTERVAL_S = 0.05
#: Frames kept in memory for subscribers that are a little behind.
KEEP_FRAMES = 2000
#: Most frames one read (and one write to a subscriber) carries.
BATCH = 500

Frame = tuple[int, bytes]
"""(arrival cursor, the event as one Server-Sent Event)."""


def sse_frames(log: IncidentLog, after: int, limit: int = BATCH) -> list[Frame]:
    """The events after cursor ``after`` as Server-Sent Events (on a store thread: the
    encoding stays off the event loop). The SSE id is the arrival cursor."""
    frames = []
    for arrival, event in log.feed(after, limit):
        data = json.dumps(event.to_wire(), separators=(",", ":"))
        frames.append((arrival, f"id: {arrival}\nevent: {event.kind}\ndata: {data}\n\n".encode()))
    return frames


class EventFeed:
    """Tracks the latest arrival cursor, keeps the latest frames, and lets readers wait
    for the cursor to pass theirs.

    :param read_cursor: coroutine returning the log's latest cursor.
    :param read_frames: coroutine returning :func:`sse_frames` after a cursor.
    """

    def __init__(self, read_cursor: Callable[[], Awaitable[int]],
                 read_frames: Callable[[int], Awaitable[list[Frame]]]) -> None:
        self._read_cursor = read_cursor
        self._read_frames = read_frames
        self._wake = asyncio.Event()
        self._changed: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._recent: deque[Frame] = deque()
        self._base = 0  # _recent holds every event after _base up to latest
        self.latest = 0

    async def start(self) -> None:
        if self._task is None:
            self.latest = self._base = await self._read_cursor()
            self._changed = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._run(), name="fieldkit-feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._publish()

    @property
    def running(self) -> bool:
        return self._task is not None

    def wake(self) -> None:
        self._wake.set()

    def frames_after(self, cursor: int) -> list[Frame] | None:
        """Up to BATCH frames after ``cursor`` from memory; None when the feed no longer
        holds all of them (the caller reads :func:`sse_frames` from the store)."""
        if cursor < self._base:
            return None
        start = bisect.bisect_right(self._recent, cursor, key=lambda frame: frame[0])
        return [self._recent[i] for i in range(start, min(start + BATCH, len(self._recent)))]

    async def wait_past(self, cursor: int, timeout: float) -> bool:
        """Wait until the log holds events after ``cursor``; False on timeout or stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.latest <= cursor and self._task is not None \
                        and self._changed is not None:
                    # Shielded: one waiter's timeout must not cancel everyone's future.
                    await asyncio.shield(self._changed)
        return self.latest > cursor

    def _publish(self) -> None:
        changed = self._changed
        if changed is not None:
            self._changed = asyncio.get_running_loop().create_future()
            changed.set_result(None)

    async def _run(self) -> None:
        while True:
            await wait_event(self._wake, POLL_SECONDS)
            self._wake.clear()
            try:
                frames = await self._read_frames(self.latest)
            except Exception:  # keep the feed alive; the store logs its own errors
                logger.exception("reading new events failed")
                continue
            if not frames:
                continue
            self._recent.extend(frames)
            while len(self._recent) > KEEP_FRAMES:
                self._base = self._recent.popleft()[0]
            self.latest = frames[-1][0]
            self._publish()
            if len(frames) == BATCH:
                self._wake.set()  # more are waiting
            await asyncio.sleep(PUBLISH_INTERVAL_S)
