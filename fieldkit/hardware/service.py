"""The truck's hardware inside the running node: position and health, and their routes.

Installed into the API app by :func:`install_hardware` (one line in ``fieldkit.api``):
a ``cleanup_ctx`` starts :class:`~fieldkit.hardware.gpsd.TruckPosition` and
:class:`~fieldkit.hardware.health.HealthMonitor` when ``[hardware]`` enables them, and
stops them in reverse order. Routes (same auth as the rest of the API)::

    GET /api/hardware             position (live fix and state) and health readings
    GET /api/hardware/positions   stored position samples, newest first (?limit=, 1-10000)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from fieldkit.appkeys import CONFIG, WORKER
from fieldkit.hardware.config import HardwareSection
from fieldkit.hardware.gpsd import Fix, TruckPosition
from fieldkit.hardware.health import HealthAlerts, HealthMonitor
from fieldkit.hardware.records import recent_positions, record_position
from fieldkit.query import query_limit
from fieldkit.views import HardwareView, respond
from fieldkit.views.openapi import PositionList


@dataclass
class HardwareRuntime:
    """The hardware components of one running node (None: disabled in the config)."""

    position: TruckPosition | None = None
    monitor: HealthMonitor | None = None


HARDWARE = web.AppKey("hardware", HardwareRuntime)


def install_hardware(app: web.Application) -> None:
    """Add the hardware context and routes to the node's API app."""
    config = app[CONFIG]

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        runtime = app[HARDWARE] = HardwareRuntime()
        settings = config.section(HardwareSection)
        log_worker = app[WORKER]
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
        yield
        if runtime.monitor is not None:
            await runtime.monitor.stop()
        if runtime.position is not None:
            await runtime.position.stop()

    async def summary(request: web.Request) -> web.Response:
        runtime = request.app[HARDWARE]
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

    app.cleanup_ctx.append(ctx)
    app.add_routes([web.get("/api/hardware", summary),
                    web.get("/api/hardware/positions", positions)])
