"""The console's client for the node's local HTTP API and its live event stream (SSE).

Every answer is read into the node's own response models (:mod:`fieldkit.views`), so
the console never guesses a shape; an answer that does not fit is a :class:`NodeError`.

Every aiohttp error is mapped here, at one boundary, to::

    NodeError                 the node answered with an error (carries status and message)
    NodeUnreachable           no answer: refused, reset, timed out, DNS, bad URL

so screens catch exactly what they can act on. Nothing here blocks: every call is a
coroutine with a timeout, run by the app in a worker.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, TypeAdapter, ValidationError

from fieldkit.fold import Incident
from fieldkit.views import (
    CamerasView,
    DronesView,
    EventView,
    FleetView,
    HealthView,
    SensorsView,
    SyncStatusView,
)

_INCIDENT_LIST = TypeAdapter(list[Incident])
_EVENT_LIST = TypeAdapter(list[EventView])
V = TypeVar("V", bound=BaseModel)

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 5.0
"""A request that takes longer than this is treated as the node being unreachable."""
LIST_TIMEOUT_S = 60.0
"""The whole incident list of a big log (HQ) takes the node seconds to serve."""
THREAD_PARSE_BYTES = 256 * 1024
"""Incident lists larger than this are parsed off the event loop."""
STREAM_CONNECT_TIMEOUT_S = 5.0
STREAM_IDLE_TIMEOUT_S = 40.0
"""The node sends a keep-alive every 15 s; silence for this long means the link is dead."""


class ClientError(Exception):
    """Base of the console client's errors."""


class NodeUnreachable(ClientError):
    """The node did not answer (refused, reset, timed out)."""


class NodeError(ClientError):
    """The node answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        """HTTP status code."""
        self.message = message
        """The node's ``{"error": ...}`` text."""


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event from the live stream."""

    cursor: int
    """The node's arrival cursor (the SSE id): resume after it."""
    kind: str
    """Event kind (create, set, status, assign, note, ...)."""
    data: EventView
    """The event in wire form."""

    @property
    def incident(self) -> str:
        return self.data.incident


def read_token(path: Path) -> str:
    """The bearer token in ``path`` (as `fieldkit init` writes it)."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ClientError(f"cannot read token file {path}: {exc.strerror}") from exc
    if not token:
        raise ClientError(f"token file {path} is empty")
    return token


class NodeClient:
    """Talks to one node's API at ``url`` (``http://host:port``), with an optional token.

    ``async with NodeClient(url) as client`` or :meth:`open` / :meth:`close`.
    """

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> NodeClient:
        await self.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers)
        return self._session

    # --- the one error boundary -------------------------------------------------------

    async def request(self, method: str, path: str, *, body: Any = None,
                      optional: bool = False) -> Any:
        """JSON of ``method path``; with ``optional``, None when the node has no such route."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                async with self.session.request(method, self.url + path, json=body) as resp:
                    if optional and resp.status in (404, 405):
                        return None
                    try:
                        data = await resp.json(content_type=None)
                    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                        raise NodeError(resp.status, f"{method} {path}: not JSON") from exc
                    if resp.status >= 400:
                        message = data.get("error") if isinstance(data, dict) else None
                        raise NodeError(resp.status, str(message or resp.reason))
                    return data
        except TimeoutError as exc:
            raise NodeUnreachable(f"{self.url}: no answer within {REQUEST_TIMEOUT_S:g} s") \
                from exc
        except aiohttp.InvalidURL as exc:
            raise NodeUnreachable(f"{self.url}: not a valid URL") from exc
        except aiohttp.ClientError as exc:
            raise NodeUnreachable(f"{self.url}: {exc}") from exc

    async def read_bytes(self, path: str, timeout: float = REQUEST_TIMEOUT_S
                         ) -> tuple[str, bytes]:
        """(content type, body) of a binary resource such as a blob."""
        try:
            async with asyncio.timeout(timeout):
                async with self.session.get(self.url + path) as resp:
                    if resp.status >= 400:
                        raise NodeError(resp.status, await _error_text(resp))
                    return resp.content_type, await resp.read()
        except TimeoutError as exc:
            raise NodeUnreachable(f"{self.url}: no answer within {timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            raise NodeUnreachable(f"{self.url}: {exc}") from exc

    # --- reads ------------------------------------------------------------------------

    async def view(self, model: type[V], method: str, path: str, *, body: Any = None) -> V:
        """The answer to ``method path`` read as ``model``."""
        return _read(model, method, path, await self.request(method, path, body=body))

    async def optional_view(self, model: type[V], path: str) -> V | None:
        """``GET path`` as ``model``; None when this node does not serve the route (a part
        that is not installed)."""
        data = await self.request("GET", path, optional=True)
        return None if data is None else _read(model, "GET", path, data)

    async def health(self) -> HealthView:
        return await self.view(HealthView, "GET", "/api/health")

    async def cameras(self) -> CamerasView | None:
        return await self.optional_view(CamerasView, "/api/cameras")

    async def drones(self) -> DronesView | None:
        return await self.optional_view(DronesView, "/api/drones")

    async def sync_status(self) -> SyncStatusView | None:
        return await self.optional_view(SyncStatusView, "/api/sync/status")

    async def fleet(self) -> FleetView | None:
        return await self.optional_view(FleetView, "/api/hq/fleet")

    async def sensors(self) -> SensorsView | None:
        return await self.optional_view(SensorsView, "/api/sensors")

    async def incidents(self, limit: int | None = None) -> list[Incident]:
        """Incidents in the node's order (open first, most severe, latest change);
        ``limit``: only the first ones (the top of the board)."""
        query = f"?limit={limit}" if limit is not None else ""
        _, body = await self.read_bytes(f"/api/incidents{query}", LIST_TIMEOUT_S)
        try:  # pydantic parses the JSON itself: ~3x faster than json + model_validate
            if len(body) > THREAD_PARSE_BYTES:  # thousands of incidents: keep keys answering
                return await asyncio.to_thread(_INCIDENT_LIST.validate_json, body)
            return _INCIDENT_LIST.validate_json(body)
        except ValidationError as exc:
            raise NodeError(200, f"GET /api/incidents: unexpected answer: {exc}") from exc

    async def incident(self, incident_id: str) -> Incident:
        return await self.view(Incident, "GET", _path(incident_id))

    async def events(self, incident_id: str) -> list[EventView]:
        path = _path(incident_id, "events")
        try:
            return _EVENT_LIST.validate_python(await self.request("GET", path))
        except ValidationError as exc:
            raise NodeError(200, f"GET {path}: unexpected answer: {exc}") from exc

    async def blob(self, sha256: str) -> tuple[str, bytes]:
        return await self.read_bytes(f"/api/blobs/{quote(sha256, safe='')}")

    # --- actions ----------------------------------------------------------------------

    async def create(self, fields: dict[str, Any]) -> Incident:
        return await self.view(Incident, "POST", "/api/incidents", body=fields)

    async def update(self, incident_id: str, fields: dict[str, Any]) -> Incident:
        return await self.view(Incident, "PATCH", _path(incident_id), body=fields)

    async def set_status(self, incident_id: str, status: str, reason: str = "") -> Incident:
        return await self.view(Incident, "POST", _path(incident_id, "status"),
                               body={"status": status, "reason": reason})

    async def assign(self, incident_id: str, agency: str, unit: str) -> Incident:
        return await self.view(Incident, "POST", _path(incident_id, "assignments"),
                               body={"agency": agency, "unit": unit})

    async def add_note(self, incident_id: str, text: str) -> Incident:
        return await self.view(Incident, "POST", _path(incident_id, "notes"),
                               body={"text": text})

    # --- live stream ------------------------------------------------------------------

    async def stream(self, after: int) -> AsyncIterator[StreamEvent]:
        """Events after cursor ``after``, live, until the connection ends.

        Raises NodeUnreachable when it cannot connect or the link goes silent; the caller
        reconnects with the last cursor it saw (sent as ``Last-Event-ID``).
        """
        timeout = aiohttp.ClientTimeout(total=None, connect=STREAM_CONNECT_TIMEOUT_S,
                                        sock_read=STREAM_IDLE_TIMEOUT_S)
        headers = {"Last-Event-ID": str(after), "Accept": "text/event-stream"}
        try:
            async with self.session.get(self.url + "/api/events/stream", headers=headers,
                                        timeout=timeout) as resp:
                if resp.status >= 400:
                    raise NodeError(resp.status, await _error_text(resp))
                parser = SseParser()
                async for line in resp.content:
                    event = parser.feed(line)
                    if event is not None:
                        yield event
        except TimeoutError as exc:
            raise NodeUnreachable(f"{self.url}: live stream went silent") from exc
        except aiohttp.ClientError as exc:
            raise NodeUnreachable(f"{self.url}: {exc}") from exc
        raise NodeUnreachable(f"{self.url}: live stream closed by the node")


class SseParser:
    """Turns Server-Sent Event lines into :class:`StreamEvent`, one line at a time."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._kind = "message"
        self._data: list[str] = []

    def feed(self, raw: bytes) -> StreamEvent | None:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            self._id = value
        elif name == "event":
            self._kind = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> StreamEvent | None:
        raw_id, kind, data = self._id, self._kind, self._data
        self._id, self._kind, self._data = None, "message", []
        if not data or raw_id is None:
            return None
        try:  # a pydantic ValidationError is a ValueError too
            return StreamEvent(int(raw_id), kind, EventView.model_validate_json("\n".join(data)))
        except ValueError:
            logger.warning("skipping a malformed stream event (id %r)", raw_id)
            return None


def _read(model: type[V], method: str, path: str, data: Any) -> V:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise NodeError(200, f"{method} {path}: unexpected answer: {exc}") from exc


async def _error_text(resp: aiohttp.ClientResponse) -> str:
    try:
        data = await resp.json(content_type=None)
    except ValueError:
        return resp.reason or "error"
    return str(data.get("error") if isinstance(data, dict) else resp.reason)


def _path(incident_id: str, *rest: str) -> str:
    return "/".join(["/api/incidents", quote(incident_id, safe=""), *rest])
