"""The node's cameras inside the local API app: their pipelines run in a background job
(:func:`pipelines_job`, one process per database: :mod:`fieldkit.background`), started
after the store thread and the live feed, stopped before them; ``GET /api/cameras`` reports
each configured camera (``starting`` until its pipeline runs) with its rates and its
zones' recent metrics windows, and any other feed a part adds (drones' video).

The model loads in the background, so the API answers at once even on a slow disk.
Snapshot retention (:mod:`fieldkit.retention`) runs in the same background job
(:func:`cameras_job`), on every node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from fieldkit.analytics.config import CamerasSection
from fieldkit.appkeys import CONFIG, FEED, WORKER
from fieldkit.background import elsewhere
from fieldkit.hlc import wall_ms
from fieldkit.retention import expire_periodically
from fieldkit.storeapi import Connection
from fieldkit.tasks import cancel_and_wait
from fieldkit.views import CamerasView, CameraView, ZoneView, respond

if TYPE_CHECKING:
    from fieldkit.analytics.pipeline import AnalyticsRuntime

logger = logging.getLogger(__name__)

SPARK_WINDOWS = 30
"""Metrics windows per zone in ``GET /api/cameras`` (the console's sparkline)."""


class Cameras:
    """Holds the runtime once started (app state freezes when the app starts)."""

    def __init__(self) -> None:
        self.runtime: AnalyticsRuntime | None = None
        self.feeds: list[Callable[[], Mapping[str, CameraView]]] = []
        """Other parts' video feeds (drones), listed beside the cameras."""


CAMERAS = web.AppKey("cameras", Cameras)


def install_cameras(app: web.Application) -> None:
    """Register the cameras' route on ``app`` (:func:`pipelines_job` runs them)."""
    app[CAMERAS] = Cameras()
    app.router.add_get("/api/cameras", _health)


@contextlib.asynccontextmanager
async def cameras_job(app: web.Application) -> AsyncIterator[None]:
    """The part's background job: snapshot retention, then the cameras' pipelines."""
    async with retention_job(app), pipelines_job(app):
        yield


@contextlib.asynccontextmanager
async def pipelines_job(app: web.Application) -> AsyncIterator[None]:
    """The cameras' pipelines: a background job (one process per database), or every
    camera would be read, analysed and turned into incidents once per API worker."""
    config = app[CONFIG]
    section = config.section(CamerasSection)
    if not section.enabled or not section.cameras:
        yield
        return
    from fieldkit.analytics.pipeline import AnalyticsRuntime

    runtime = AnalyticsRuntime(section, config.base_dir, app[WORKER],
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
        app[CAMERAS].runtime = None
        await runtime.stop()


@contextlib.asynccontextmanager
async def retention_job(app: web.Application) -> AsyncIterator[None]:
    """Snapshot retention (a background job: once per database), on every node, cameras
    or not: copies synced from other trucks expire too."""
    days = app[CONFIG].section(CamerasSection).snapshot_retention_days
    task = asyncio.create_task(expire_periodically(app[WORKER], days),
                               name="snapshot-retention")
    try:
        yield
    finally:
        await cancel_and_wait(task)


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("cameras did not start: %s", task.exception())


async def _health(request: web.Request) -> web.Response:
    config, cameras, worker = request.app[CONFIG], request.app[CAMERAS], request.app[WORKER]
    section = config.section(CamerasSection)
    names = [c.name for c in section.cameras] if section.enabled else []
    window_s = section.window_s
    zones = await worker.call(_recent_zones, worker.log.store.conn, names, window_s,
                              wall_ms() - int(SPARK_WINDOWS * window_s * 1000))
    if names and cameras.runtime is None:
        raise elsewhere("the cameras' pipelines")
    health = {} if cameras.runtime is None else cameras.runtime.health()
    views = {name: CameraView.model_validate(
        {"state": "starting", **health.get(name, {}), "zones": zones[name]}) for name in names}
    for feed in cameras.feeds:
        views.update(feed())
    return respond(CamerasView(views))


def _recent_zones(conn: Connection, cameras: list[str], window_s: float,
                  since_ms: int) -> dict[str, list[ZoneView]]:
    """Each camera's zones: the last closed window and the counts of the recent ones."""
    if not cameras:
        return {}
    from fieldkit.analytics.zones import read_metrics  # cv2: only on a node with cameras

    out: dict[str, list[ZoneView]] = {}
    for camera in cameras:
        by_zone: dict[str, list[ZoneView]] = {}
        for row in read_metrics(conn, camera, since_ms=since_ms):
            band = None if row.density_low is None or row.density_high is None \
                else (row.density_low, row.density_high)
            by_zone.setdefault(row.zone, []).append(ZoneView(
                zone=row.zone, end_ms=row.end_ms, window_s=window_s, count=row.count,
                peak=row.peak, density=row.density, band=band, level=row.level,
                method=row.method, uncertain=row.uncertain, counts=[]))
        out[camera] = [rows[-1].model_copy(update={"counts": [r.count for r in rows]})
                       for rows in by_zone.values()]
    return out
