"""The WHIP endpoint (RFC 9725) on the node's aiohttp server.

=======================================  ==============================================
``POST /whip``                           ``application/sdp`` offer -> 201, the answer,
                                         ``Location: /whip/sessions/ID``
``PATCH /whip/sessions/ID``              ``application/trickle-ice-sdpfrag``: trickle ICE
                                         -> 204; an ICE restart -> 405 (post a new offer)
``DELETE /whip/sessions/ID``             ends the session -> 200
``GET /api/webrtc``                      the live sessions (no secrets)
``GET /publish``                         the pilot's browser publisher page
``GET /live``                            the live view (:mod:`drone.video.live`)
=======================================  ==============================================

Every WHIP request carries ``Authorization: Bearer <token>``, one token per pilot or drone
(``[[webrtc.publishers]]``); a session is reachable only with the token that made it.
Tokens never appear in logs or errors.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from drone.video.config import WebRTCSection, WhipPublisherSection
from drone.video.live import DRONE_FEEDS, install_live
from fieldkit.analytics.service import CAMERAS
from fieldkit.appkeys import CONFIG
from fieldkit.config import Config
from fieldkit.errors import ConfigError
from fieldkit.views import WebrtcView, respond

if TYPE_CHECKING:  # aiortc, av and cv2 load when the part starts with a publisher
    from drone.video.session import WhipSession
    from drone.video.sink import FrameSink

logger = logging.getLogger(__name__)

SinkFactory = Callable[[WhipPublisherSection], "FrameSink"]
"""Makes the sink of a new session of the given publisher."""

MAX_SDP_BYTES = 64 * 1024
_PAGE = Path(__file__).with_name("publish.html")


class WhipError(Exception):
    """A refused WHIP request: HTTP ``status`` and the reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def read_tokens(config: Config) -> list[tuple[str, WhipPublisherSection]]:
    """(token, publisher) for every configured publisher; ConfigError when a token file
    cannot be read (the message names the file, never its content)."""
    out = []
    for pub in config.section(WebRTCSection).publishers:
        if pub.token is not None:
            token = pub.token.get_secret_value()
        else:
            assert pub.token_file is not None
            path = config.path(pub.token_file)
            try:
                token = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"webrtc -> publishers -> {pub.name}: token_file {path} "
                                  f"cannot be read: {exc.strerror}") from exc
            if len(token) < 16:
                raise ConfigError(f"webrtc -> publishers -> {pub.name}: token_file {path}: "
                                  "the token is shorter than 16 characters")
        out.append((token, pub))
    return out


class WhipServer:
    """Sessions of every publisher of one node.

    :param settings: the ``[webrtc]`` section.
    :param tokens: (token, publisher) pairs (:func:`read_tokens`).
    :param sink_factory: makes each new session's frame sink; None when no publisher is
        configured (no session can open).
    """

    def __init__(self, settings: WebRTCSection,
                 tokens: list[tuple[str, WhipPublisherSection]],
                 sink_factory: SinkFactory | None) -> None:
        self.settings = settings
        self._tokens = tokens
        self.sink_factory = sink_factory
        self.sessions: dict[str, WhipSession] = {}
        self._owner: dict[str, str] = {}
        self.changed = asyncio.Condition()
        addresses = settings.ice_addresses
        self._loopback_only = bool(addresses) and all(
            a in ("127.0.0.1", "::1") for a in addresses or [])

    def authenticate(self, header: str | None) -> WhipPublisherSection:
        if not header:
            raise WhipError(401, "missing Authorization: Bearer <token>")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise WhipError(401, "the Authorization header must be 'Bearer <token>'")
        found = None
        for token, pub in self._tokens:  # compare with every token: no timing hint
            if hmac.compare_digest(given.strip().encode(), token.encode()):
                found = pub
        if found is None:
            raise WhipError(403, "this token is not allowed to publish here")
        return found

    async def open(self, publisher: WhipPublisherSection, offer: str) -> WhipSession:
        from drone.video.session import SdpError, WhipSession  # loaded at the part's start

        assert self.sink_factory is not None  # authenticate() found a publisher
        if len(self.sessions) >= self.settings.max_sessions:
            raise WhipError(503, f"already {len(self.sessions)} publishers (webrtc.max_sessions)")
        session_id = secrets.token_urlsafe(12)
        session = WhipSession(session_id, publisher.name, None, self.settings.timeout_s,
                              on_closed=self._forget)
        try:
            await session.answer(offer, loopback_only=self._loopback_only)
        except SdpError as exc:
            await session.close(f"refused: {exc}")
            raise WhipError(400, str(exc)) from exc
        session.attach(self.sink_factory(publisher))
        self.sessions[session_id] = session
        self._owner[session_id] = publisher.name
        logger.info("whip: %s publishing, session %s", publisher.name, session_id)
        await self._notify()
        return session

    def session_for(self, session_id: str, publisher: WhipPublisherSection) -> WhipSession:
        session = self.sessions.get(session_id)
        if session is None or self._owner.get(session_id) != publisher.name:
            raise WhipError(404, f"no WHIP session {session_id!r}")
        return session

    def _forget(self, session: WhipSession) -> None:
        if self.sessions.pop(session.id, None) is not None:
            self._owner.pop(session.id, None)
            logger.info("whip: session %s of %s ended (%s)", session.id, session.feed,
                        session.close_reason)
            task = asyncio.get_running_loop().create_task(self._notify())
            task.add_done_callback(lambda t: None)

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate: Callable[[WhipServer], bool], timeout: float) -> None:
        """Wait (up to ``timeout`` s) until ``predicate(self)`` holds after a change."""
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: predicate(self))

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            await session.close("the node is stopping")


# --- aiohttp wiring ----------------------------------------------------------------------

WHIP = web.AppKey("whip", WhipServer)
SINKS: web.AppKey[SinkFactory] = web.AppKey("whip_sinks")
"""Optional: a :data:`SinkFactory` set before the app starts (tests, the bench)."""


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def install_webrtc(app: web.Application, sink_factory: SinkFactory | None = None) -> None:
    """Register the WHIP endpoint and the publisher page on the node's app."""
    if sink_factory is not None:
        app[SINKS] = sink_factory
    app.cleanup_ctx.append(_whip_ctx)
    app.router.add_post("/whip", post_offer)
    app.router.add_route("OPTIONS", "/whip", options)
    app.router.add_route("OPTIONS", "/whip/sessions/{id}", options)
    app.on_response_prepare.append(_cors_headers)
    app.router.add_patch("/whip/sessions/{id}", patch_session)
    app.router.add_delete("/whip/sessions/{id}", delete_session)
    app.router.add_get("/api/webrtc", list_sessions)
    app.router.add_get("/publish", publish_page)
    install_live(app)  # /live: every feed, cameras and drones, with detections drawn


async def _whip_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    settings = config.section(WebRTCSection)
    if not settings.enabled:
        yield
        return
    tokens = read_tokens(config)
    if not tokens:
        # Nobody may publish, so no session can open: aiortc, av and the drone analytics
        # stay unloaded (a default node starts lean); every offer is refused (403).
        app[WHIP] = WhipServer(settings, tokens, None)
        yield
        return
    # Load the WebRTC stack now rather than on a pilot's first offer.
    importlib.import_module("drone.video.session")
    from drone.video.ice import ice_addresses

    factory = app.get(SINKS)
    feeds = None
    if factory is None:
        from drone.video.analytics import DroneFeeds

        feeds = DroneFeeds(app)
        app[DRONE_FEEDS] = feeds
        factory = feeds.open
        if CAMERAS in app:  # listed with the cameras in GET /api/cameras
            app[CAMERAS].feeds.append(
                lambda: {name: feed.view() for name, feed in feeds.feeds.items()})
    server = WhipServer(settings, tokens, factory)
    app[WHIP] = server
    with ice_addresses(settings.ice_addresses):
        try:
            yield
        finally:
            await server.close()
            if feeds is not None:
                await feeds.stop()


def _server(request: web.Request) -> WhipServer:
    server = request.app.get(WHIP)
    if server is None:
        raise WhipError(503, "the WHIP endpoint is disabled (webrtc.enabled = false)")
    return server


async def post_offer(request: web.Request) -> web.Response:
    try:
        server = _server(request)
        publisher = server.authenticate(request.headers.get("Authorization"))
        if request.content_type != "application/sdp":
            raise WhipError(415, f"the offer must be application/sdp, not "
                                 f"{request.content_type or 'missing'}")
        if (request.content_length or 0) > MAX_SDP_BYTES:
            raise WhipError(413, f"the offer is larger than {MAX_SDP_BYTES} bytes")
        offer = await request.text()
        session = await server.open(publisher, offer)
    except WhipError as exc:
        return _error(exc.status, str(exc))
    location = f"/whip/sessions/{session.id}"
    return web.Response(status=201, text=session.answer_sdp,
                        content_type="application/sdp",
                        headers={"Location": location, "ETag": f'"{session.id}"'})


_CORS = {"Access-Control-Allow-Origin": "*",
         "Access-Control-Expose-Headers": "Location, ETag, Link, Accept-Patch"}
"""On every WHIP answer: a pilot's web app on another origin publishes here with its token
(RFC 9725 section 4.1); it must read ``Location`` to end the session."""
_PREFLIGHT = {"Access-Control-Allow-Methods": "OPTIONS, POST, PATCH, DELETE",
              "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
              "Access-Control-Max-Age": "86400"}


async def _cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/whip" or request.path.startswith("/whip/"):
        response.headers.update(_CORS)


async def options(request: web.Request) -> web.Response:
    """The CORS preflight, and what the endpoint takes."""
    allow = "OPTIONS, POST" if request.path == "/whip" else "OPTIONS, PATCH, DELETE"
    return web.Response(status=204, headers={
        **_PREFLIGHT, "Accept-Post": "application/sdp", "Allow": allow})


async def patch_session(request: web.Request) -> web.Response:
    try:
        server = _server(request)
        publisher = server.authenticate(request.headers.get("Authorization"))
        session = server.session_for(request.match_info["id"], publisher)
        from drone.video.session import IceRestartUnsupported, SdpError  # already loaded

        if request.content_type != "application/trickle-ice-sdpfrag":
            raise WhipError(415, "PATCH takes application/trickle-ice-sdpfrag")
        try:
            await session.patch(await request.text())
        except IceRestartUnsupported as exc:
            raise WhipError(405, str(exc)) from exc
        except SdpError as exc:
            raise WhipError(400, str(exc)) from exc
    except WhipError as exc:
        return _error(exc.status, str(exc))
    return web.Response(status=204)


async def delete_session(request: web.Request) -> web.Response:
    try:
        server = _server(request)
        publisher = server.authenticate(request.headers.get("Authorization"))
        session = server.session_for(request.match_info["id"], publisher)
    except WhipError as exc:
        return _error(exc.status, str(exc))
    await session.close("the publisher ended it (DELETE)")
    return web.json_response({"ended": session.id})


async def list_sessions(request: web.Request) -> web.Response:
    server = request.app.get(WHIP)
    sessions = [] if server is None else [s.describe() for s in server.sessions.values()]
    return respond(WebrtcView.model_validate({"sessions": sessions}))


async def publish_page(request: web.Request) -> web.Response:
    return web.Response(text=_PAGE.read_text(encoding="utf-8"), content_type="text/html")


