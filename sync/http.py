"""Sync over HTTP (aiohttp): the ``/sync/v1`` routes a node serves, the client transport
that talks to them, and the node runtime wiring (:func:`install_sync`).

Routes (every request and response signed, see :mod:`sync.auth`)::

    POST /sync/v1/hello              JSON {vector, roster_version, roster}
    POST /sync/v1/pull               JSON {vector, limit} -> event batch (binary)
    POST /sync/v1/push               event batch -> JSON apply report + vector
    GET  /sync/v1/blobs              JSON list of blobs this node lacks
    GET  /sync/v1/blobs/{sha256}     blob content (X-Fieldkit-Mime)
    PUT  /sync/v1/blobs/{sha256}     blob content

This module is the network error boundary: aiohttp and socket errors become
:class:`~sync.errors.PeerUnreachable`, error statuses :class:`~sync.errors.PeerRefused`
or :class:`~sync.errors.AuthError`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from fieldkit import wirejson
from fieldkit.appkeys import CONFIG, FEED, WORKER
from fieldkit.config import Config
from fieldkit.errors import FieldkitError, NotFoundError, SyncError
from fieldkit.identity import NodeIdentity
from fieldkit.views import SyncStatusView, respond
from fieldkit.worker import LogWorker
from sync.auth import NONCE, RequestVerifier, sign_request, sign_response, verify_response
from sync.config import SyncSection
from sync.errors import AuthError, PeerRefused, PeerUnreachable, ProtocolError
from sync.protocol import Vector
from sync.roster import Trust, open_trust
from sync.scheduler import SyncScheduler
from sync.session import SessionReport, SyncEngine

logger = logging.getLogger(__name__)

PREFIX = "/sync/v1"
ENGINE = web.AppKey("sync_engine", SyncEngine)
VERIFIER = web.AppKey("sync_verifier", RequestVerifier)
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_MIME_RE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
BATCH_TYPE = "application/x-fieldkit-batch"

Handler = Callable[[SyncEngine, str, web.Request, bytes], Awaitable[web.Response]]


# --- server ------------------------------------------------------------------------------


def _signed(request: web.Request, response: web.Response) -> web.Response:
    engine = request.app[ENGINE]
    body = response.body if isinstance(response.body, bytes) else b""
    response.headers.update(sign_response(engine.trust.identity,
                                          request.headers.get(NONCE, ""), response.status,
                                          body))
    return response


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data, separators=(",", ":")).encode(), status=status,
                        content_type="application/json")


def _route(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Authenticate, run ``handler``, map errors, sign the response."""
    async def wrapped(request: web.Request) -> web.Response:
        try:
            request.app[VERIFIER].precheck(request.headers)
            body = await request.read()
            peer = request.app[VERIFIER].verify(request.method, request.path_qs,
                                                request.headers, body)
        except AuthError as exc:
            logger.warning("sync request refused (%d): %s", exc.status, exc)
            return _json({"error": str(exc)}, exc.status)  # unsigned: no proven peer
        except ConnectionResetError:  # the link died mid-request: normal in the field
            logger.info("sync request from %s cut before its body arrived",
                        request.headers.get("X-Fieldkit-Node", "?"))
            return _json({"error": "request body cut"}, 400)
        try:
            response = await handler(request.app[ENGINE], peer, request, body)
        except ProtocolError as exc:
            response = _json({"error": str(exc)}, 400)
        except NotFoundError as exc:
            response = _json({"error": str(exc)}, 404)
        except FieldkitError as exc:
            logger.exception("sync request from %s failed", peer)
            response = _json({"error": str(exc)}, 500)
        return _signed(request, response)

    return wrapped


def _load(body: bytes) -> Any:
    try:
        return wirejson.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"body is not JSON: {exc}") from exc


def _digest(request: web.Request) -> str:
    digest = request.match_info["sha256"]
    if not _SHA_RE.match(digest):
        raise ProtocolError("blob id must be 64 lowercase hex digits")
    return digest


async def _hello(engine: SyncEngine, peer: str, request: web.Request, body: bytes
                 ) -> web.Response:
    return _json(await engine.hello(peer, _load(body)))


async def _pull(engine: SyncEngine, peer: str, request: web.Request, body: bytes
                ) -> web.Response:
    batch = await engine.pull(peer, _load(body))
    return web.Response(body=batch, content_type=BATCH_TYPE)


async def _push(engine: SyncEngine, peer: str, request: web.Request, body: bytes
                ) -> web.Response:
    return _json(await engine.push(peer, body))


async def _missing(engine: SyncEngine, peer: str, request: web.Request, body: bytes
                   ) -> web.Response:
    return _json(await engine.missing_blobs())


async def _get_blob(engine: SyncEngine, peer: str, request: web.Request, body: bytes
                    ) -> web.Response:
    mime, data = await engine.get_blob(_digest(request))
    return web.Response(body=data, content_type="application/octet-stream",
                        headers={"X-Fieldkit-Mime": mime})


async def _put_blob(engine: SyncEngine, peer: str, request: web.Request, body: bytes
                    ) -> web.Response:
    mime = request.headers.get("X-Fieldkit-Mime", "")
    if not _MIME_RE.match(mime):
        raise ProtocolError("X-Fieldkit-Mime must be a content type")
    stored = await engine.put_blob(_digest(request), mime, body)
    return _json({"stored": stored})


def sync_routes() -> list[web.RouteDef]:
    return [
        web.post(f"{PREFIX}/hello", _route(_hello)),
        web.post(f"{PREFIX}/pull", _route(_pull)),
        web.post(f"{PREFIX}/push", _route(_push)),
        web.get(f"{PREFIX}/blobs", _route(_missing)),
        web.get(f"{PREFIX}/blobs/{{sha256}}", _route(_get_blob)),
        web.put(f"{PREFIX}/blobs/{{sha256}}", _route(_put_blob)),
    ]


# --- client ------------------------------------------------------------------------------


class HttpTransport:
    """A peer reached over HTTP, for :meth:`SyncEngine.run_session`.

    :param http: the aiohttp session to send with.
    :param url: the peer's base URL, e.g. ``http://127.0.0.1:8470``.
    :param peer: the peer's node name; its responses must be signed by that node's key.
    """

    def __init__(self, http: aiohttp.ClientSession, url: str, peer: str,
                 identity: NodeIdentity, trust: Trust, timeout_s: float = 30.0) -> None:
        self.http = http
        self.url = url.rstrip("/")
        self.peer = peer
        self._identity = identity
        self._trust = trust
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def _request(self, method: str, path: str, body: bytes = b"",
                       headers: dict[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
        signed = sign_request(self._identity, method, PREFIX + path, self.peer, body)
        nonce = signed[NONCE]
        try:
            async with self.http.request(method, self.url + PREFIX + path, data=body,
                                         headers={**signed, **(headers or {})},
                                         timeout=self._timeout) as response:
                data = await response.read()
                status, got = response.status, dict(response.headers)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise PeerUnreachable(f"{self.peer} at {self.url}: {_describe(exc)}") from exc
        if status in (401, 403) and "X-Fieldkit-Sig" not in got:
            raise AuthError(status, f"{self.peer} refused us ({status}): {_error_of(data)}")
        verify_response(self._trust, self.peer, nonce, status, got, data)
        if status >= 400:
            raise PeerRefused(status, f"{self.peer} answered {status}: {_error_of(data)}")
        return data, got

    async def _json(self, method: str, path: str, body: Any = None) -> Any:
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        data, _ = await self._request(method, path, raw,
                                      {"Content-Type": "application/json"})
        return _load(data)

    async def hello(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self._json("POST", "/hello", body)
        if not isinstance(answer, dict):
            raise ProtocolError(f"{self.peer}: hello answer is not an object")
        return answer

    async def pull(self, vector: Vector, limit: int, accept: list[str]) -> bytes:
        data, _ = await self._request("POST", "/pull", json.dumps(
            {"vector": vector, "limit": limit, "accept": accept}).encode(),
            {"Content-Type": "application/json"})
        return data

    async def push(self, batch: bytes) -> dict[str, Any]:
        data, _ = await self._request("POST", "/push", batch, {"Content-Type": BATCH_TYPE})
        answer = _load(data)
        if not isinstance(answer, dict):
            raise ProtocolError(f"{self.peer}: push answer is not an object")
        return answer

    async def missing_blobs(self) -> list[str]:
        answer = await self._json("GET", "/blobs")
        if not isinstance(answer, list):
            raise ProtocolError(f"{self.peer}: missing blob list is not a list")
        return [d for d in answer if isinstance(d, str) and _SHA_RE.match(d)]

    async def get_blob(self, digest: str) -> tuple[str, bytes]:
        try:
            data, headers = await self._request("GET", f"/blobs/{digest}")
        except PeerRefused as exc:
            if exc.status == 404:
                raise NotFoundError(f"{self.peer} does not hold blob {digest}") from exc
            raise
        return headers.get("X-Fieldkit-Mime", "application/octet-stream"), data

    async def put_blob(self, digest: str, mime: str, data: bytes) -> None:
        await self._request("PUT", f"/blobs/{digest}", data, {"X-Fieldkit-Mime": mime})


def _describe(exc: BaseException) -> str:
    """A short cause for logs: never headers (aiohttp puts whole responses in some)."""
    text = str(exc)
    if isinstance(exc, TimeoutError):
        text = "timed out"
    elif isinstance(exc, aiohttp.ServerDisconnectedError) or "headers" in text:
        text = "server disconnected"
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def _error_of(data: bytes) -> str:
    try:
        return str(wirejson.loads(data)["error"])
    except (ValueError, KeyError, TypeError):
        return data[:200].decode("utf-8", "replace")


# --- node runtime ------------------------------------------------------------------------


def install_sync(app: web.Application) -> None:
    """Add the sync routes and a cleanup context (the engine that answers peers) to the
    node's API application; :func:`sessions_job` starts sessions."""
    config = app[CONFIG]
    app.add_routes(sync_routes())

    async def status(request: web.Request) -> web.Response:
        """The local view for the console: `fieldkit sync status` as JSON."""
        from sync.status import peer_status

        engine = request.app[ENGINE]
        rows = await engine.runner.call(peer_status, config, engine.log, engine.trust)
        return respond(SyncStatusView.model_validate({
            "node": config.node.name, "roster_version": engine.trust.roster_version,
            "peers": rows}))

    # Under /api/, so it takes the local API's bearer token when bound beyond loopback.
    app.router.add_get("/api/sync/status", status)

    async def sync_ctx(app: web.Application) -> AsyncIterator[None]:
        runner, sync = app[WORKER], config.section(SyncSection)
        trust = await runner.call(open_trust, runner.log, config.trust.nodes, sync.hq,
                                  config.node.role)
        app[ENGINE] = SyncEngine(runner, trust, sync, app[FEED].wake)
        app[VERIFIER] = RequestVerifier(trust, sync.max_clock_skew_s * 1000)
        yield

    app.cleanup_ctx.append(sync_ctx)


@contextlib.asynccontextmanager
async def sessions_job(app: web.Application) -> AsyncIterator[None]:
    """The sessions this node starts (scheduler) and discovery: a background job, one per
    database, or every peer would get one session per API worker."""
    config, engine = app[CONFIG], app[ENGINE]
    sync, trust = config.section(SyncSection), engine.trust
    http = aiohttp.ClientSession()
    static = sync.peer_urls(config.node.name)
    discovered: dict[str, str] = {}

    def transport(name: str, url: str) -> HttpTransport:
        return HttpTransport(http, url, name, trust.identity, trust, sync.timeout_s)

    scheduler = SyncScheduler(engine, transport, lambda: {**discovered, **static}, sync,
                              app[FEED])
    discovery = None
    if sync.discovery:
        from sync.discovery import Discovery

        discovery = Discovery(config, discovered, scheduler.wake)
    try:
        if discovery is not None:
            await discovery.start()
        if sync.enabled:
            await scheduler.start()
        yield
    finally:
        await scheduler.stop()
        if discovery is not None:
            await discovery.stop()
        await http.close()


async def sync_once(config: Config, peer: str, url: str | None = None) -> SessionReport:
    """One session with ``peer`` from outside the node process (`fieldkit sync now`)."""
    peers = config.section(SyncSection).peer_urls(config.node.name)
    url = url or peers.get(peer)
    if url is None:
        raise SyncError(f"no URL for peer {peer!r}: configured peers are "
                        f"{', '.join(sorted(peers)) or 'none'}; give --url")
    sync = config.section(SyncSection)
    runner = await LogWorker.open(config)
    try:
        trust = await runner.call(open_trust, runner.log, config.trust.nodes, sync.hq,
                                  config.node.role)
        engine = SyncEngine(runner, trust, sync)
        async with aiohttp.ClientSession() as http:
            return await engine.run_session(
                HttpTransport(http, url, peer, trust.identity, trust, sync.timeout_s))
    finally:
        await runner.close()
