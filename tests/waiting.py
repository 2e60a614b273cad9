"""Waiting in tests: poll a condition until it holds, with a bound, failing with what was
awaited. The one place tests pause; the interval is how often to look, never how long
something is assumed to take."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

import pytest

INTERVAL_S = 0.05


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll ``condition()`` until it returns a true value (returned); fail after
    ``timeout_s`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(INTERVAL_S)
    return value


async def until(condition: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    """Async :func:`wait_until`; ``condition`` may be a plain or an async callable."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(INTERVAL_S)
