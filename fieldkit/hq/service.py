"""The HQ part of the node's API (:mod:`fieldkit.hq.part`): emergency calls, the
fleet picture, GeoJSON and CAP feeds, and the Cursor-on-Target publisher.

Routes (under ``/api/``, so they take the API's bearer token beyond loopback):

- ``POST /api/calls``: a call (``location``, ``kind``, ``description``, ``callback``,
  ``severity``?, ``title``?) -> 201 with the incident and whether it was merged;
- ``GET /api/hq/fleet``: per node, last sync, open incidents, cameras and drones;
- ``GET /api/hq/geojson``: the picture as a GeoJSON FeatureCollection;
- ``GET /api/hq/cap``: the incidents that have a CAP alert; ``/api/hq/cap/{id}`` the alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fieldkit.analytics.config import CamerasSection
from fieldkit.api import json_body
from fieldkit.appkeys import CONFIG, FEED, WORKER
from fieldkit.errors import NotFoundError
from fieldkit.hlc import wall_ms
from fieldkit.hq.calls import parse_call
from fieldkit.hq.cap import alertable, cap_xml
from fieldkit.hq.config import HqSection
from fieldkit.hq.cot import CotPublisher, TakClient, tak_context, truck_position
from fieldkit.hq.fleet import fleet_picture
from fieldkit.hq.fusion import DronePosition, Footprint, camera_footprints, live_drones, take_call
from fieldkit.hq.geojson import picture_geojson
from fieldkit.views import CallView, CapListView, CapRef, FleetView, GeoJsonView, respond

logger = logging.getLogger(__name__)


@dataclass
class HqState:
    """Filled when the node starts (app state freezes then)."""

    footprints: list[Footprint] = field(default_factory=list)


HQ = web.AppKey("hq", HqState)


def install_hq(app: web.Application) -> None:
    """Add the HQ routes and context (camera footprints, which calls read) to the node."""
    app[HQ] = HqState()
    app.cleanup_ctx.append(_hq_ctx)
    app.add_routes([
        web.post("/api/calls", post_call),
        web.get("/api/hq/fleet", get_fleet),
        web.get("/api/hq/geojson", get_geojson),
        web.get("/api/hq/cap", list_cap),
        web.get("/api/hq/cap/{id}", get_cap),
    ])


async def _hq_ctx(app: web.Application) -> AsyncIterator[None]:
    config, state = app[CONFIG], app[HQ]
    cameras, hq = config.section(CamerasSection), config.section(HqSection)
    if any(c.calibration is not None and c.calibration.units == "latlon"
           for c in cameras.cameras):
        state.footprints = await asyncio.to_thread(camera_footprints, cameras, hq.camera_range_m)
    yield


@contextlib.asynccontextmanager
async def cot_job(app: web.Application) -> AsyncIterator[None]:
    """The Cursor-on-Target sender (a background job: one per database, or every CoT
    message would go out once per API worker)."""
    config = app[CONFIG]
    cot = config.section(HqSection).cot
    if not cot.multicast and cot.tak_host is None:
        yield
        return
    tak = None if cot.tak_host is None else TakClient(cot.tak_host, cot.tak_port,
                                                      tak_context(config))
    publisher = CotPublisher(config, app[WORKER], app[FEED], tak)
    await publisher.start()
    try:
        yield
    finally:
        await publisher.stop()


async def post_call(request: web.Request) -> web.Response:
    call = parse_call(await json_body(request))
    config, worker = request.app[CONFIG], request.app[WORKER]
    outcome = await worker.call(take_call, worker.log, call, config.section(HqSection),
                                request.app[HQ].footprints)
    request.app[FEED].wake()
    response = respond(CallView(
        incident=outcome.incident, merged=outcome.merged, distance_m=outcome.distance_m,
        cameras=outcome.cameras, drone=outcome.drone), status=200 if outcome.merged else 201)
    response.headers["Location"] = f"/api/incidents/{outcome.incident.id}"
    return response


async def get_fleet(request: web.Request) -> web.Response:
    config, worker = request.app[CONFIG], request.app[WORKER]
    picture = await worker.call(fleet_picture, worker.log, config.node.name, wall_ms())
    drones = await worker.call(live_drones, worker.log.store.conn, wall_ms(),
                               config.section(HqSection).drone_max_age_s)
    picture["live"] = _live(request.app, drones)
    return respond(FleetView.model_validate(picture))


def _live(app: web.Application, drones: list[DronePosition]) -> dict[str, Any]:
    """What this node's own running parts report right now: its cameras, and its drones
    as last sampled into the store (the drones part writes them; hq never imports it)."""
    from fieldkit.analytics.service import CAMERAS

    live: dict[str, Any] = {"cameras": {}, "drones": [
        {"name": d.vehicle, "lat": d.lat, "lon": d.lon} for d in drones]}
    cameras = app.get(CAMERAS)
    if cameras is not None and cameras.runtime is not None:
        live["cameras"] = cameras.runtime.health()
    return live


async def get_geojson(request: web.Request) -> web.Response:
    config, worker = request.app[CONFIG], request.app[WORKER]
    log = worker.log
    now = wall_ms()
    incidents = await worker.call(log.incidents)
    drones = await worker.call(live_drones, log.store.conn, now,
                               config.section(HqSection).drone_max_age_s)
    truck = await worker.call(truck_position, log)
    body = GeoJsonView.model_validate(picture_geojson(
        incidents, request.app[HQ].footprints, drones, truck, config.node.name))
    return web.json_response(body.model_dump(mode="json"), content_type="application/geo+json")


def _sender(request: web.Request) -> str:
    config = request.app[CONFIG]
    return config.section(HqSection).cap_sender or f"fieldkit@{config.node.name}"


async def list_cap(request: web.Request) -> web.Response:
    config, worker = request.app[CONFIG], request.app[WORKER]
    incidents = alertable(await worker.call(worker.log.incidents),
                          config.section(HqSection).cap_min_severity)
    return respond(CapListView(sender=_sender(request), alerts=[
        CapRef(incident=i.id, severity=i.severity, status=i.status,
               url=f"/api/hq/cap/{i.id}") for i in incidents]))


async def get_cap(request: web.Request) -> web.Response:
    config, worker = request.app[CONFIG], request.app[WORKER]
    incident_id = await worker.call(worker.log.resolve, request.match_info["id"])
    incident = await worker.call(worker.log.get, incident_id)
    threshold = config.section(HqSection).cap_min_severity
    if incident.severity < threshold:
        raise NotFoundError(f"incident {incident.id} has severity {incident.severity}, below "
                            f"hq.cap_min_severity {threshold}: no CAP alert")
    body = cap_xml(incident, _sender(request), config.node.name)
    return web.Response(body=body, content_type="application/xml", charset="utf-8")
