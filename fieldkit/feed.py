"""The live event feed: wakes stream readers when the log grows.

Writers may be this process or another one (the CLI writes the same SQLite file), so
the feed watches the events table's arrival cursor rather than relying on callbacks;
a local write calls :meth:`EventFeed.wake` to skip the polling delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from fieldkit.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25


class EventFeed:
    """Tracks the latest arrival cursor and lets readers wait for it to pass theirs.

    :param read_cursor: coroutine returning the log's latest cursor.
    """

    def __init__(self, read_cursor: Callable[[], Awaitable[int]]) -> None:
        self._read_cursor = read_cursor
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.latest = 0

    async def start(self) -> None:
        if self._task is None:
            self.latest = await self._read_cursor()
            self._task = asyncio.create_task(self._run(), name="fieldkit-feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        async with self._changed:
            self._changed.notify_all()

    @property
    def running(self) -> bool:
        return self._task is not None

    def wake(self) -> None:
        self._wake.set()

    async def wait_past(self, cursor: int, timeout: float) -> bool:
        """Wait until the log holds events after ``cursor``; False on timeout or stop."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.latest > cursor or self._task is None),
                    timeout)
        return self.latest > cursor

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            try:
                latest = await self._read_cursor()
            except Exception:  # keep the feed alive; the store logs its own errors
                logger.exception("reading the event cursor failed")
                continue
            if latest > self.latest:
                async with self._changed:
                    self.latest = latest
                    self._changed.notify_all()
