"""Background tasks run and ended the same way everywhere: periodic work (health checks,
retention) and cancelling a component's task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (nothing if None) and wait until it has finished unwinding."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until ``event`` is set (True) or ``timeout_s`` passes (False).

    Never ``asyncio.wait_for`` (banned in pyproject.toml): on Python 3.11 it drops a cancel
    that arrives as the awaited thing completes (CPython gh-86296), and a component's loop
    then never stops: its ``stop()`` awaits forever. ``asyncio.timeout`` keeps the cancel."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    return event.is_set()


async def repeat(interval_s: float, job: Callable[[], Awaitable[object]], what: str) -> None:
    """Run ``job`` now and then every ``interval_s`` until cancelled. A run that fails is
    logged and the next one retries: a busy store or a failing sensor must not end it."""
    while True:
        try:
            await job()
        except Exception:
            logger.exception("%s failed", what)
        await asyncio.sleep(interval_s)  # the period, not synchronisation
