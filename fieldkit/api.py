"""The node's local HTTP API (aiohttp): incidents, actions, blobs, foreign events, a live
event stream (Server-Sent Events) and health.

Bound to 127.0.0.1 by default. Bound anywhere else, every request must carry
``Authorization: Bearer <token>`` (the token file made by `fieldkit init`).
Errors are JSON ``{"error": "..."}`` with a 4xx/5xx status; a refused request changes
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from fieldkit import __version__, wirejson
from fieldkit.apiguard import Handler, bearer_matches, browser_guard
from fieldkit.appkeys import CONFIG, FEED, STARTED, WORKER
from fieldkit.background import Job, install_role
from fieldkit.config import Config
from fieldkit.errors import (
    ConfigError,
    EventError,
    FieldkitError,
    GoneError,
    InvalidActionError,
    NotFoundError,
    StoreError,
)
from fieldkit.events import CreatePayload
from fieldkit.feed import EventFeed, sse_frames
from fieldkit.fold import Incident
from fieldkit.intake import ApplyReport
from fieldkit.log import IncidentLog
from fieldkit.parts import Installer
from fieldkit.strict import describe
from fieldkit.tasks import cancel_and_wait
from fieldkit.views import ApplyView, HealthView, RejectionView, respond
from fieldkit.views.openapi import openapi_json
from fieldkit.views.requests import AssignBody, LinkBody, NoteBody, StatusBody
from fieldkit.worker import LogWorker

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
MAX_EVENTS_PER_POST = 10_000
_STATUS_OF: dict[type[FieldkitError], int] = {  # first match wins: subclasses first
    GoneError: 410,
    NotFoundError: 404,
    InvalidActionError: 400,
    EventError: 400,
    StoreError: 503,
}

M = TypeVar("M", bound=BaseModel)
_BOARD = TypeAdapter(list[Incident])


def create_app(config: Config, parts: Sequence[Installer] = (),
               jobs: Sequence[Job] = ()) -> web.Application:
    """The API application for the node described by ``config``, with ``parts`` plugged in
    and their background ``jobs`` (see :mod:`fieldkit.parts`).

    The store, its thread and the live feed are opened in ``cleanup_ctx`` first; each
    part's context comes after them (so it can use both) and is closed before them; the
    background jobs (with the store's periodic integrity check) start last, in the one
    process per database that holds their role (:mod:`fieldkit.background`).
    """
    token = _read_token(config)
    app = web.Application(
        client_max_size=config.api.max_body_bytes,
        middlewares=[_error_middleware, browser_guard(config, token), _auth_middleware(token)],
    )
    app[CONFIG] = config
    app.cleanup_ctx.append(_worker_ctx)
    app.cleanup_ctx.append(_feed_ctx)
    app.on_shutdown.append(_end_streams)
    for install in parts:
        install(app)
    install_role(app, (integrity_job, *jobs), config.store.url)
    app.add_routes([
        web.get("/api/openapi.json", openapi_json),
        web.get("/api/health", health),
        web.get("/api/incidents", list_incidents),
        web.post("/api/incidents", create_incident),
        web.get("/api/incidents/{id}", get_incident),
        web.patch("/api/incidents/{id}", update_incident),
        web.get("/api/incidents/{id}/events", incident_events),
        web.post("/api/incidents/{id}/status", set_status),
        web.post("/api/incidents/{id}/assignments", assign),
        web.delete("/api/incidents/{id}/assignments/{agency}/{unit}", unassign),
        web.post("/api/incidents/{id}/notes", add_note),
        web.post("/api/incidents/{id}/links", add_link),
        web.post("/api/incidents/{id}/attachments", attach),
        web.get("/api/blobs/{sha256}", get_blob),
        web.post("/api/events", post_events),
        web.get("/api/events/stream", stream_events),
    ])
    return app


def _read_token(config: Config) -> str | None:
    if config.api.is_loopback:
        return None
    path = config.path(config.api.token_file)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"api.host {config.api.host!r} is not loopback, so api.token_file is required, "
            f"but {path} cannot be read: {exc.strerror}") from exc
    if len(token) < 16:
        raise ConfigError(f"api.token_file {path}: the token is shorter than 16 characters")
    return token


async def _worker_ctx(app: web.Application) -> AsyncIterator[None]:
    app[WORKER] = worker = await LogWorker.open(app[CONFIG])  # refuses a damaged store
    app[STARTED] = time.time()
    yield
    await worker.close()


@contextlib.asynccontextmanager
async def integrity_job(app: web.Application) -> AsyncIterator[None]:
    """Every process checks the store when it opens it; the periodic check reads the
    whole log, so once per database."""
    checks = asyncio.create_task(app[WORKER].check_periodically(), name="fieldkit-integrity")
    yield
    await cancel_and_wait(checks)


async def _feed_ctx(app: web.Application) -> AsyncIterator[None]:
    worker = app[WORKER]
    app[FEED] = feed = EventFeed(lambda: worker.read(worker.log.cursor),
                                 lambda after: worker.read(sse_frames, worker.log, after))
    await feed.start()
    loop = asyncio.get_running_loop()

    def wake_from_thread() -> None:
        loop.call_soon_threadsafe(feed.wake)

    # Writes by other processes (API workers over one PostgreSQL database) wake it too.
    worker.log.store.subscribe(wake_from_thread)
    yield
    await feed.stop()


async def _end_streams(app: web.Application) -> None:
    """Live streams end at shutdown, not at their next keep-alive (up to 15 s later)."""
    await app[FEED].stop()


# --- middlewares -----------------------------------------------------------------------


@web.middleware
async def _error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = exc.reason
        if isinstance(exc, web.HTTPRequestEntityTooLarge):
            reason = (f"request body is larger than the limit of "
                      f"{request.app[CONFIG].api.max_body_bytes} bytes")
        response = _error(exc.status, reason)
        if "Allow" in exc.headers:  # a 405 says what the path takes (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except FieldkitError as exc:
        status = next((s for cls, s in _STATUS_OF.items() if isinstance(exc, cls)), 500)
        return _error(status, str(exc))


_OWN_AUTH = ("/sync/", "/whip", "/publish", "/live", "/sensors/")
"""Paths that authenticate themselves (see the note in :func:`_auth_middleware`)."""


def _auth_middleware(token: str | None) -> Any:
    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Sync peers sign every /sync/ request with their node key (sync.auth) instead;
        # WHIP publishers send their own per-pilot token (drone.video.whip), and the
        # /publish and /live pages are static (they ask for a token; /api/live checks it);
        # city systems push readings to /sensors/ with their own token (sensors.service).
        if token is not None and not request.path.startswith(_OWN_AUTH) \
                and not bearer_matches(request, token):
            return _error(401, "missing or wrong bearer token")
        return await handler(request)

    return auth


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


# --- request bodies --------------------------------------------------------------------


async def json_body(request: web.Request) -> Any:
    """The request's JSON body; anything but ``application/json`` is refused (415) before
    it is read, so a cross-site form or ``text/plain`` post never reaches a handler."""
    return parse_json(await json_bytes(request))


async def json_bytes(request: web.Request) -> bytes:
    """:func:`json_body` unparsed, for a body parsed off the event loop."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(
            reason=f"body must be application/json, not {request.content_type or 'missing'}")
    return await request.read()


def parse_json(data: bytes) -> Any:
    try:
        return wirejson.loads(data)
    except json.JSONDecodeError as exc:
        raise InvalidActionError(f"body is not valid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidActionError("body is not UTF-8 text") from exc


async def _body(request: web.Request, model: type[M]) -> M:
    data = await json_body(request)
    if not isinstance(data, dict):
        raise InvalidActionError(f"body must be a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidActionError(describe(exc, echo=False)) from exc


# --- handlers --------------------------------------------------------------------------


def _incident(incident: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(incident.model_dump(mode="json"), status=status)


async def _resolve(request: web.Request) -> str:
    worker = request.app[WORKER]
    return await worker.read(worker.log.resolve, request.match_info["id"])


async def health(request: web.Request) -> web.Response:
    config, worker = request.app[CONFIG], request.app[WORKER]
    stats = await worker.read(worker.log.stats)
    return respond(HealthView(
        status="ok", integrity=worker.integrity, node=config.node.name,
        role=config.node.role, version=__version__,
        uptime_s=round(time.time() - request.app[STARTED], 1),
        public_key=worker.log.identity.public_key_b64, **stats))


async def list_incidents(request: web.Request) -> web.Response:
    q = request.query
    try:
        min_severity = int(q["min_severity"]) if "min_severity" in q else None
        limit = int(q["limit"]) if "limit" in q else None
    except ValueError as exc:
        raise InvalidActionError("min_severity and limit must be integers") from exc
    if limit is not None and not 1 <= limit <= 10_000:
        raise InvalidActionError(f"limit {limit} is out of range 1..10000")
    if min_severity is not None and not 0 <= min_severity <= 5:
        raise InvalidActionError(f"min_severity {min_severity} is out of range 0..5")
    unknown = set(q) - {"status", "kind", "min_severity", "open", "limit"}
    if unknown:
        raise InvalidActionError(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    worker = request.app[WORKER]
    body = await worker.read(
        _board, worker.log, status=q.get("status"), kind=q.get("kind"),
        min_severity=min_severity, open_only=q.get("open") in ("1", "true"), limit=limit)
    return web.Response(body=body, content_type="application/json", charset="utf-8")


def _board(log: IncidentLog, **query: Any) -> bytes:
    """The incidents as a JSON body, encoded on the reader thread, not the event loop, by
    pydantic's own serialiser (half the cost of model_dump then json.dumps)."""
    return _BOARD.dump_json(log.incidents(**query))


async def create_incident(request: web.Request) -> web.Response:
    body = await _body(request, CreatePayload)
    worker = request.app[WORKER]
    incident = await worker.call(worker.log.create, **body.model_dump(exclude_none=True))
    request.app[FEED].wake()
    response = _incident(incident, status=201)
    response.headers["Location"] = f"/api/incidents/{incident.id}"
    return response


async def get_incident(request: web.Request) -> web.Response:
    worker = request.app[WORKER]
    return _incident(await worker.read(worker.log.get, await _resolve(request)))


async def incident_events(request: web.Request) -> web.Response:
    worker = request.app[WORKER]
    events = await worker.read(worker.log.events_of, await _resolve(request))
    return web.json_response([e.to_wire() for e in events])


async def _act(request: web.Request, method: str, *args: Any, **kwargs: Any) -> web.Response:
    worker = request.app[WORKER]
    incident_id = await _resolve(request)
    incident = await worker.call(getattr(worker.log, method), incident_id, *args, **kwargs)
    request.app[FEED].wake()
    return _incident(incident)


async def update_incident(request: web.Request) -> web.Response:
    data = await json_body(request)
    if not isinstance(data, dict) or not data:
        raise InvalidActionError("body must be a JSON object of fields to set")
    return await _act(request, "update", data)


async def set_status(request: web.Request) -> web.Response:
    body = await _body(request, StatusBody)
    return await _act(request, "set_status", body.status, body.reason)


async def assign(request: web.Request) -> web.Response:
    body = await _body(request, AssignBody)
    return await _act(request, "assign", body.agency, body.unit)


async def unassign(request: web.Request) -> web.Response:
    return await _act(request, "unassign", request.match_info["agency"],
                      request.match_info["unit"])


async def add_note(request: web.Request) -> web.Response:
    body = await _body(request, NoteBody)
    return await _act(request, "add_note", body.text)


async def add_link(request: web.Request) -> web.Response:
    body = await _body(request, LinkBody)
    return await _act(request, "link", body.target, body.ref)


async def attach(request: web.Request) -> web.Response:
    name = request.query.get("name")
    if not name:
        raise InvalidActionError("attachments need ?name=FILENAME")
    data = await request.read()
    if not data:
        raise InvalidActionError("attachment body is empty")
    return await _act(request, "attach", data, name, request.content_type)


async def get_blob(request: web.Request) -> web.Response:
    worker = request.app[WORKER]
    mime, data = await worker.read(worker.log.blob, request.match_info["sha256"])
    return web.Response(body=data, content_type=mime)


async def post_events(request: web.Request) -> web.Response:
    """Foreign events (wire form, a JSON list): 200 if all were taken, else 422."""
    raw = await json_bytes(request)
    worker = request.app[WORKER]
    report = await worker.ingest(_apply_body, worker.log, raw)
    request.app[FEED].wake()
    body = ApplyView(
        applied=report.applied, duplicates=report.duplicates, deferred=report.deferred,
        rejected=[RejectionView(event=r.event, reason=r.reason, detail=r.detail)
                  for r in report.rejected],
        error=f"{len(report.rejected)} event(s) rejected: {report.rejected[0].detail}"
        if report.rejected else None)
    # No "error" key when nothing was refused: clients test for its presence.
    return respond(body, status=422 if report.rejected else 200, exclude_none=True)


def _apply_body(log: IncidentLog, body: bytes) -> ApplyReport:
    """Parse and apply a batch of foreign events on the store thread, not the event loop:
    a fleet's batches (hundreds of KB each) parsed there would hold up every console's
    request behind them."""
    data = parse_json(body)
    if not isinstance(data, list):
        raise InvalidActionError("body must be a JSON list of events")
    if len(data) > MAX_EVENTS_PER_POST:
        raise InvalidActionError(f"{len(data)} events in one request; the limit is "
                                 f"{MAX_EVENTS_PER_POST}")
    return log.apply_wire(data)


async def stream_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: every event after ``Last-Event-ID`` (or ``?after=``), then live.

    The SSE id is the node-local arrival cursor, so a reconnecting client resumes exactly.
    Frames come from the feed's memory (encoded once for every subscriber), or from the
    store for a subscriber further behind; whatever is ready goes in one write.
    """
    raw = request.headers.get("Last-Event-ID") or request.query.get("after", "0")
    try:
        cursor = int(raw)
    except ValueError as exc:
        raise InvalidActionError(f"event cursor {raw!r} is not an integer") from exc
    if not 0 <= cursor < 1 << 63:  # SQLite integers are 64-bit: checked before streaming
        raise InvalidActionError(f"event cursor {raw} is out of range 0..2^63-1")
    worker, feed = request.app[WORKER], request.app[FEED]
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    try:
        while feed.running:
            frames = feed.frames_after(cursor)
            if frames is None:
                frames = await worker.read_bulk(sse_frames, worker.log, cursor)
            if frames:
                await response.write(b"".join(frame for _, frame in frames))
                cursor = frames[-1][0]
            elif not await feed.wait_past(cursor, HEARTBEAT_SECONDS) and feed.running:
                await response.write(b": keep-alive\n\n")  # also detects a vanished client
    except ConnectionResetError:
        logger.debug("event stream client went away at cursor %d", cursor)
    return response
