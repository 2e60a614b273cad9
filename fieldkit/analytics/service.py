"""The node's cameras inside the local API app: started in a ``cleanup_ctx`` (after the
store thread and the live feed), stopped before them; ``GET /api/cameras`` reports
each camera's health.

The model loads in the background, so the API answers at once even on a slow disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from fieldkit.analytics.pipeline import AnalyticsRuntime

logger = logging.getLogger(__name__)

class Cameras:
    """Holds the runtime once started (app state freezes when the app starts)."""

    runtime: AnalyticsRuntime | None = None


CAMERAS = web.AppKey("cameras", Cameras)


def install_cameras(app: web.Application) -> None:
    """Register the cameras' context and route on ``app`` (from :func:`create_app`)."""
    app[CAMERAS] = Cameras()
    app.cleanup_ctx.append(_cameras_ctx)
    app.router.add_get("/api/cameras", _health)


async def _cameras_ctx(app: web.Application) -> AsyncIterator[None]:
    from fieldkit.api import CONFIG, FEED, WORKER

    config = app[CONFIG]
    if not config.cameras.enabled or not config.cameras.cameras:
        yield
        return
    from fieldkit.analytics.pipeline import AnalyticsRuntime

    runtime = AnalyticsRuntime(config.cameras, config.base_dir, app[WORKER],
                               on_write=lambda: app[FEED].wake())
    app[CAMERAS].runtime = runtime
    task = asyncio.create_task(runtime.start(), name="cameras-start")
    task.add_done_callback(_report)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await runtime.stop()


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("cameras did not start: %s", task.exception())


async def _health(request: web.Request) -> web.Response:
    runtime = request.app[CAMERAS].runtime
    return web.json_response({} if runtime is None else runtime.health())
