"""The truck's hardware inside the running node: position and health, and their routes.

Installed into the API app by :func:`install_hardware` (its routes); the background job
:func:`probes_job` starts :class:`~fieldkit.hardware.gpsd.TruckPosition` and
:class:`~fieldkit.hardware.health.HealthMonitor` when ``[hardware]`` enables them, and
stops them in reverse order. Sample retention runs on every node: in the health monitor
(which prunes sooner when the disk fills) or, without it, on its own once an hour.
Routes (same auth as the rest of the API)::

    GET /api/hardware             position (live fix and state) and health readings
    GET /api/hardware/positions   stored position samples, newest first (?limit=, 1-10000)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from fieldkit.appkeys import CONFIG, WORKER
from fieldkit.background import Slot
from fieldkit.hardware.config import HardwareSection
from fieldkit.hardware.gpsd import Fix, TruckPosition
from fieldkit.hardware.health import HealthAlerts, HealthMonitor
from fieldkit.hardware.records import (
    PRUNE_EVERY_S,
    prune_older_than,
    recent_positions,
    record_position,
)
from fieldkit.query import query_limit
from fieldkit.tasks import cancel_and_wait, repeat
from fieldkit.views import HardwareView, respond
from fieldkit.views.openapi import PositionList


@dataclass
class HardwareRuntime:
    """The hardware components of one running node (None: disabled in the config)."""

    position: TruckPosition | None = None
    monitor: HealthMonitor | None = None


HARDWARE = web.AppKey("hardware", Slot[HardwareRuntime])


def install_hardware(app: web.Application) -> None:
    """Add the hardware routes to the node's API app (:func:`probes_job` fills them)."""
    app[HARDWARE] = Slot("the hardware part's gpsd and health probes")

    async def summary(request: web.Request) -> web.Response:
        runtime = request.app[HARDWARE].get()
        log_worker = request.app[WORKER]
        alerts = await log_worker.call(HealthAlerts(log_worker.log).open_alerts)
        return respond(HardwareView(
            position=runtime.position.snapshot() if runtime.position else {"state": "disabled"},
            health=runtime.monitor.snapshot() if runtime.monitor else {"state": "disabled"},
            alerts=alerts))

    async def positions(request: web.Request) -> web.Response:
        limit = query_limit(request)
        log_worker = request.app[WORKER]
        rows = await log_worker.call(recent_positions, log_worker.log, limit)
        return respond(PositionList.model_validate(rows))

    app.add_routes([web.get("/api/hardware", summary),
                    web.get("/api/hardware/positions", positions)])


@contextlib.asynccontextmanager
async def probes_job(app: web.Application) -> AsyncIterator[None]:
    """gpsd and the health probes: a background job (one process per database), or every
    fix would be stored and every probe run once per API worker."""
    config, log_worker = app[CONFIG], app[WORKER]
    runtime, settings = HardwareRuntime(), config.section(HardwareSection)
    if settings.gps:
        async def record(fix: Fix) -> None:
            await log_worker.call(record_position, log_worker.log, fix)

        runtime.position = TruckPosition(settings.gpsd_host, settings.gpsd_port, record,
                                         settings.gps_sample_s)
        await runtime.position.start()
    if settings.health:
        position = runtime.position
        runtime.monitor = HealthMonitor(
            log_worker, settings, config.base_dir,
            position=lambda: position.fix if position is not None else None)
        await runtime.monitor.start()
        retention = None
    else:
        retention = asyncio.create_task(repeat(
            PRUNE_EVERY_S, lambda: prune_older_than(log_worker, settings.retention_days),
            "sample retention"), name="sample-retention")
    app[HARDWARE].value = runtime
    try:
        yield
    finally:
        app[HARDWARE].value = None
        await cancel_and_wait(retention)
        if runtime.monitor is not None:
            await runtime.monitor.stop()
        if runtime.position is not None:
            await runtime.position.stop()
