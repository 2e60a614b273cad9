"""The API's route table and the OpenAPI 3.1 document made from it
(``GET /api/openapi.json``).

Each row names a route's method, path, parameters, request body and response model;
schemas are pydantic's JSON schema of those models. The document lists only the rows
whose route the running node serves (a node without drones has no ``/api/drones``).
Not in it: the sync protocol under ``/sync/`` (signed node-to-node requests, see
:mod:`sync.http`), WHIP (SDP offers), the static ``/live`` and ``/publish`` pages, and
``/sensors/readings`` (city systems push readings with their own token: the README).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, RootModel
from pydantic.json_schema import models_json_schema

from fieldkit import __version__
from fieldkit.events import CreatePayload
from fieldkit.fold import Incident
from fieldkit.hq.calls import Call
from fieldkit.views._base import ErrorView
from fieldkit.views.log import (
    ApplyView,
    CallView,
    CapListView,
    EventView,
    GeoJsonView,
    HealthView,
)
from fieldkit.views.parts import (
    CamerasView,
    DronesView,
    FleetView,
    GroundPointView,
    HardwareView,
    LiveFeedsView,
    PositionSample,
    SyncStatusView,
    WebrtcView,
)
from fieldkit.views.requests import AssignBody, LinkBody, NoteBody, StatusBody, one_of
from fieldkit.views.sensors import SensorReadingList, SensorsView
from fieldkit.vocabulary import Agency

_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query", "header"]
    description: str
    schema: dict[str, Any]
    required: bool = False


@dataclass(frozen=True)
class Route:
    """One documented route."""

    method: str
    path: str
    summary: str
    response: type[BaseModel] | None = None
    """JSON body of a success; None: ``media`` as bytes."""
    statuses: tuple[int, ...] = (200,)
    """Success statuses (each answers ``response``)."""
    media: str = "application/json"
    params: tuple[Param, ...] = ()
    body: type[BaseModel] | None = None
    body_schema: dict[str, Any] | None = None
    """A request body that is not one model (a list of events, a file)."""
    body_media: str = "application/json"


class IncidentList(RootModel[list[Incident]]):
    """Incidents, as ``GET /api/incidents`` lists them."""


class EventList(RootModel[list[EventView]]):
    """An incident's events, oldest first."""


class PositionList(RootModel[list[PositionSample]]):
    """Stored truck positions, newest first."""


_ID = Param("id", "path", "Incident id, or a unique prefix of it (at least 4 characters)",
            {"type": "string", "minLength": 4})
_LIMIT = Param("limit", "query", "At most this many", {"type": "integer", "minimum": 1,
                                                       "maximum": 10_000})
_CURSOR = {"type": "integer", "minimum": 0}
_OBJECT = {"type": "object"}

ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/openapi.json", "This document", None, media="application/json"),
    Route("GET", "/api/health", "Who this node is and what its log holds", HealthView),
    Route("GET", "/api/incidents", "Incidents: open first, most severe, latest change",
          IncidentList, params=(
              Param("status", "query", "Only this status", {"type": "string"}),
              Param("kind", "query", "Only this kind", {"type": "string"}),
              Param("min_severity", "query", "Severity at least",
                    {"type": "integer", "minimum": 0, "maximum": 5}),
              Param("open", "query", "1 or true: open incidents only", {"type": "string"}),
              _LIMIT)),
    Route("POST", "/api/incidents", "Create an incident", Incident, (201,),
          body=CreatePayload),
    Route("GET", "/api/incidents/{id}", "One incident", Incident, params=(_ID,)),
    Route("PATCH", "/api/incidents/{id}", "Set fields (title, kind, severity, location, "
          "description)", Incident, params=(_ID,), body_schema={**_OBJECT, "minProperties": 1}),
    Route("GET", "/api/incidents/{id}/events", "The incident's events, in order", EventList,
          params=(_ID,)),
    Route("POST", "/api/incidents/{id}/status", "Change the status", Incident, params=(_ID,),
          body=StatusBody),
    Route("POST", "/api/incidents/{id}/assignments", "Assign a unit", Incident,
          params=(_ID,), body=AssignBody),
    Route("DELETE", "/api/incidents/{id}/assignments/{agency}/{unit}", "Unassign a unit",
          Incident, params=(_ID, Param("agency", "path", "Agency", one_of(Agency), True),
                            Param("unit", "path", "Unit", {"type": "string"}, True))),
    Route("POST", "/api/incidents/{id}/notes", "Add a note", Incident, params=(_ID,),
          body=NoteBody),
    Route("POST", "/api/incidents/{id}/links", "Link a camera, drone or incident", Incident,
          params=(_ID,), body=LinkBody),
    Route("POST", "/api/incidents/{id}/attachments", "Attach a file (the body)", Incident,
          params=(_ID, Param("name", "query", "File name", {"type": "string", "minLength": 1},
                             True)),
          body_schema={"type": "string", "format": "binary", "minLength": 1},
          body_media="application/octet-stream"),
    Route("GET", "/api/blobs/{sha256}", "An attachment's bytes (410 Gone once retention "
          "pruned a snapshot: the error says when)", None,
          media="application/octet-stream",
          params=(Param("sha256", "path", "The blob's sha256", {"type": "string"}, True),)),
    Route("POST", "/api/events", "Apply foreign events (wire form); 422 if any is refused",
          ApplyView, (200, 422), body_schema={"type": "array", "items": _OBJECT}),
    Route("GET", "/api/events/stream", "Every event after Last-Event-ID (or ?after=), then "
          "live (Server-Sent Events; the id is the arrival cursor)", None,
          media="text/event-stream",
          params=(Param("after", "query", "Arrival cursor", _CURSOR),
                  Param("Last-Event-ID", "header", "Arrival cursor", _CURSOR))),
    Route("GET", "/api/cameras", "Cameras and drone feeds: rates, counts, density",
          CamerasView),
    Route("GET", "/api/drones", "Vehicles' newest telemetry and links' counters", DronesView),
    Route("GET", "/api/drones/{vehicle}/ground", "Where a pixel of the drone's camera lies",
          GroundPointView, params=(
              Param("vehicle", "path", "Vehicle name", {"type": "string"}, True),
              Param("u", "query", "Pixel column", {"type": "number"}, True),
              Param("v", "query", "Pixel row", {"type": "number"}, True),
              Param("at", "query", "When (Unix seconds; default now)", {"type": "number"}))),
    Route("GET", "/api/live", "Feeds with a picture (always needs the token)", LiveFeedsView),
    Route("GET", "/api/live/{feed}.jpg", "A feed's newest picture", None, media="image/jpeg",
          params=(Param("feed", "path", "Feed name", {"type": "string"}, True),)),
    Route("GET", "/api/webrtc", "WHIP sessions of drone pilots", WebrtcView),
    Route("GET", "/api/sync/status", "Sync peers as this node sees them", SyncStatusView),
    Route("GET", "/api/hardware", "The truck's position and health", HardwareView),
    Route("GET", "/api/hardware/positions", "Stored truck positions, newest first",
          PositionList, params=(_LIMIT,)),
    Route("GET", "/api/sensors", "City sensors: zone states, sensor health, the broker",
          SensorsView),
    Route("GET", "/api/sensors/readings", "Stored sensor readings, newest first",
          SensorReadingList, params=(
              Param("sensor", "query", "Only this sensor", {"type": "string"}), _LIMIT)),
    Route("POST", "/api/calls", "Take an emergency call (201 new incident, 200 merged)",
          CallView, (200, 201), body=Call),
    Route("GET", "/api/hq/fleet", "Per node: sync, open incidents, cameras, drones",
          FleetView),
    Route("GET", "/api/hq/geojson", "The picture as GeoJSON", GeoJsonView,
          media="application/geo+json"),
    Route("GET", "/api/hq/cap", "Incidents with a CAP alert", CapListView),
    Route("GET", "/api/hq/cap/{id}", "An incident's CAP 1.2 alert", None,
          media="application/xml", params=(_ID,)),
)


def served(app: web.Application, routes: Sequence[Route] = ROUTES) -> list[Route]:
    """The rows of ``routes`` that ``app`` serves."""
    have = {(r.method, r.resource.canonical) for r in app.router.routes()
            if r.resource is not None}
    return [r for r in routes if (r.method, r.path) in have]


def document(routes: Sequence[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``."""
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (ErrorView, "serialization")]
    for r in routes:
        if r.response is not None:
            models.append((r.response, "serialization"))
        if r.body is not None:
            models.append((r.body, "validation"))
    keys, defs = models_json_schema(models, ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r, keys)
    return {
        "openapi": "3.1.0",
        "info": {"title": "fieldkit node API", "version": __version__,
                 "description": "The local HTTP API of a fieldkit node. Beyond loopback "
                 "every request needs Authorization: Bearer <token>. Errors are "
                 '{"error": "..."}.'},
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {}),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _operation(r: Route, keys: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return keys[(model, mode)]

    if r.response is not None:
        content = {r.media: {"schema": ref(r.response, "serialization")}}
    elif r.media == "application/json":
        content = {r.media: {"schema": {"type": "object"}}}
    else:
        content = {r.media: {"schema": {"type": "string"}}}
    error = {"application/json": {"schema": ref(ErrorView, "serialization")}}
    responses: dict[str, Any] = {str(s): {"description": "Success", "content": content}
                                 for s in r.statuses}
    responses["default"] = {"description": "An error", "content": error}
    op: dict[str, Any] = {"summary": r.summary, "operationId": _operation_id(r),
                          "responses": responses, "security": [{}, {"bearer": []}]}
    if r.params:
        op["parameters"] = [{"name": p.name, "in": p.where, "required": p.required
                             or p.where == "path", "description": p.description,
                             "schema": p.schema} for p in r.params]
    if r.body is not None or r.body_schema is not None:
        schema = ref(r.body, "validation") if r.body is not None else r.body_schema
        op["requestBody"] = {"required": True, "content": {r.body_media: {"schema": schema}}}
    return op


def _operation_id(r: Route) -> str:
    words = [w.strip("{}").replace(".", "_") for w in r.path.split("/")[2:]]
    return "_".join([r.method.lower(), *words])


async def openapi_json(request: web.Request) -> web.Response:
    """``GET /api/openapi.json``."""
    return web.json_response(document(served(request.app)))

