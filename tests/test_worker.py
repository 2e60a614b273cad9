"""The store threads behind the API: reads never queue behind a write in progress, nor
behind live streams catching up."""

from __future__ import annotations

import asyncio
import threading

import aiohttp

from fieldkit.node import Node
from fieldkit.worker import SQLITE_READERS
from tests.test_api import CRUSH

#: Bounds a read that would otherwise wait for the held write forever: it fails the test
#: instead of hanging it (a bound, not a timing).
BOUND_S = 30


async def _get(http: aiohttp.ClientSession, path: str) -> object:
    async with asyncio.timeout(BOUND_S), http.get(path) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_reads_answer_while_a_write_is_held_open(node: Node, http: aiohttp.ClientSession):
    worker = node.worker
    held, release = threading.Event(), threading.Event()

    def hold_write() -> None:  # on the store thread, as every write runs
        with worker.log.store.write():
            worker.log.create(**CRUSH)
            held.set()
            release.wait(BOUND_S * 2)

    writing = asyncio.create_task(worker.call(hold_write))
    try:
        assert await asyncio.to_thread(held.wait, BOUND_S)
        # The write is open and uncommitted: reads answer at once, without it.
        health = await _get(http, "/api/health")
        assert isinstance(health, dict)
        assert (health["events"], health["cursor"], health["incidents"]) == (0, 0, 0)
        assert await _get(http, "/api/incidents") == []
    finally:
        release.set()
        await writing
    # Committed: the next reads see it, counts and cursor together.
    health = await _get(http, "/api/health")
    assert isinstance(health, dict)
    assert (health["events"], health["incidents"]) == (1, 1)
    assert health["cursor"] >= 1
    board = await _get(http, "/api/incidents")
    assert isinstance(board, list)
    assert [i["title"] for i in board] == [CRUSH["title"]]


async def test_bulk_reads_leave_a_reader_for_a_console(node: Node, http: aiohttp.ClientSession):
    """Hundreds of live streams catching up at once (bulk reads) never take every reader
    thread: held open by an Event, more of them than there are readers, a read answers."""
    worker = node.worker
    entered, release = threading.Semaphore(0), threading.Event()

    def long_read() -> None:
        entered.release()
        release.wait(BOUND_S * 2)

    bulk = [asyncio.create_task(worker.read_bulk(long_read))
            for _ in range(SQLITE_READERS + 2)]
    try:
        assert await asyncio.to_thread(entered.acquire, timeout=BOUND_S)
        health = await _get(http, "/api/health")
        assert isinstance(health, dict)
        assert health["status"] == "ok"
    finally:
        release.set()
        await asyncio.gather(*bulk)
