"""One WHIP session: an aiortc peer connection receiving one publisher's video.

The endpoint answers the publisher's offer taking the DTLS *server* role
(``a=setup:passive``): GStreamer's webrtcbin presents an RSA certificate, and aiortc as
DTLS client offers only ECDSA cipher suites ("no shared cipher"); as server it accepts
either. Decoded frames go to a :class:`~drone.video.sink.FrameSink`. A watchdog closes
the session when the publisher vanishes: no connection within ``timeout_s``, the
connection failed, or no frame for ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from enum import StrEnum

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp

from drone.video.sink import FrameSink, make_frame

logger = logging.getLogger(__name__)


class SdpError(ValueError):
    """The offer or the ICE fragment cannot be used; the message says why."""


class IceRestartUnsupported(SdpError):
    """The fragment asks for an ICE restart, which aiortc cannot do in place."""


class SessionState(StrEnum):
    NEW = "new"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    CLOSED = "closed"


class WhipSession:
    """One publisher's peer connection.

    :param session_id: the resource id (in the ``Location``).
    :param feed: the publisher's feed name.
    :param sink: receives decoded frames; None until :meth:`attach` (so a refused offer
        never makes one).
    :param timeout_s: seconds to connect, and most seconds between frames.
    :param on_closed: called once when the session has closed (any cause).
    """

    def __init__(self, session_id: str, feed: str, sink: FrameSink | None, timeout_s: float,
                 on_closed: Callable[[WhipSession], None] | None = None) -> None:
        self.id = session_id
        self.feed = feed
        self.sink = sink
        self.timeout_s = timeout_s
        self.state = SessionState.NEW
        self.close_reason = ""
        self.frames = 0
        self.codec = ""
        self.size: tuple[int, int] | None = None
        self.answer_sdp = ""
        self.created = time.time()
        self.pc = RTCPeerConnection()
        self._on_closed = on_closed
        self._last_frame = time.monotonic()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: asyncio.Future[None] | None = None
        self._remote_ice: tuple[str, str] | None = None
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)

    def _set_state(self, state: SessionState) -> None:
        if state is not self.state:
            logger.info("whip session %s (%s): %s -> %s", self.id, self.feed, self.state, state)
            self.state = state

    async def answer(self, offer: str, loopback_only: bool = False) -> str:
        """Apply the publisher's offer; the answer SDP (ICE candidates included).
        ``loopback_only``: this end offers only loopback addresses, so the publisher's
        other candidates are dropped (no check is ever sent beyond 127.0.0.1/::1)."""
        if "m=video" not in offer:
            raise SdpError("the offer has no video section (m=video)")
        if loopback_only:
            offer = "".join(line for line in offer.splitlines(keepends=True)
                            if not line.startswith("a=candidate:") or _loopback(line))
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        except Exception as exc:  # untrusted input: any parse failure is the offer's fault
            raise SdpError(f"the offer is not valid SDP: {exc or type(exc).__name__}") from exc
        video = [t for t in self.pc.getTransceivers() if t.kind == "video"]
        if not any(t._codecs for t in video):
            raise SdpError("the offer has no video codec this endpoint decodes (VP8, H264)")
        for transceiver in self.pc.getTransceivers():
            transceiver.direction = "recvonly"
            # DTLS server role: a=setup:passive in the answer (see the module docstring).
            transceiver.receiver.transport._set_role("server")
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._remote_ice = _ice_credentials(offer)
        self._set_state(SessionState.CONNECTING)
        self._tasks.append(asyncio.create_task(self._watchdog(), name=f"whip-watch-{self.id}"))
        self.answer_sdp = self.pc.localDescription.sdp
        return self.answer_sdp

    def attach(self, sink: FrameSink) -> None:
        """Where decoded frames go from now on."""
        self.sink = sink

    async def patch(self, fragment: str) -> None:
        """Trickle ICE: add the candidates of an ``application/trickle-ice-sdpfrag``."""
        credentials = _ice_credentials(fragment)
        if credentials is not None and self._remote_ice is not None \
                and credentials != self._remote_ice:
            raise IceRestartUnsupported(
                "ICE restart is not supported by this endpoint: DELETE the session and "
                "POST a new offer")
        mids = [t.mid for t in self.pc.getTransceivers()]
        mid = mids[0] if mids else None
        added = 0
        for raw in fragment.splitlines():
            line = raw.strip()
            if line.startswith("a=mid:"):
                mid = line[6:]
            elif line.startswith("a=candidate:"):
                try:
                    candidate = candidate_from_sdp(line[2:])
                except (ValueError, IndexError, AssertionError) as exc:
                    raise SdpError(f"bad ICE candidate line {line!r}: {exc}") from exc
                candidate.sdpMid = mid
                await self.pc.addIceCandidate(candidate)
                added += 1
            elif line == "a=end-of-candidates":
                await self.pc.addIceCandidate(None)
        logger.debug("whip session %s: %d trickled candidate(s)", self.id, added)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self._tasks.append(asyncio.create_task(self._receive(track),
                                                   name=f"whip-recv-{self.id}"))
        else:  # OBS sends audio too: read and drop it, or aiortc queues it forever
            self._tasks.append(asyncio.create_task(_drain(track),
                                                   name=f"whip-drain-{self.id}"))

    def _on_connection_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed") and self.state is not \
                SessionState.CLOSED:
            self._spawn_close(f"connection {self.pc.connectionState}")

    def _spawn_close(self, reason: str) -> None:
        task = asyncio.create_task(self.close(reason), name=f"whip-close-{self.id}")
        task.add_done_callback(lambda t: None if t.cancelled() else t.exception())

    async def _receive(self, track: MediaStreamTrack) -> None:
        index = 0
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            if not self.codec:
                self.codec = self._video_codec()
            image = frame.to_ndarray(format="bgr24")  # type: ignore[union-attr]
            self.size = (image.shape[1], image.shape[0])
            self._last_frame = time.monotonic()
            self.frames += 1
            if self.state is SessionState.CONNECTING:
                self._set_state(SessionState.STREAMING)
            if self.sink is not None:
                self.sink.push(make_frame(self.feed, index, image))
            index += 1
        self._spawn_close("the publisher's track ended")

    def _video_codec(self) -> str:
        for t in self.pc.getTransceivers():
            if t.kind == "video" and t._codecs:
                return str(t._codecs[0].mimeType)
        return ""

    async def _watchdog(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while self.state is not SessionState.CLOSED:
            await asyncio.sleep(min(1.0, self.timeout_s / 4))
            now = time.monotonic()
            if self.state is SessionState.CONNECTING and now > deadline:
                self._spawn_close(f"no video within {self.timeout_s:g} s")
                return
            if self.state is SessionState.STREAMING and now - self._last_frame > self.timeout_s:
                self._spawn_close(f"no frame for {self.timeout_s:g} s (publisher vanished)")
                return

    async def close(self, reason: str = "closed by the endpoint") -> None:
        """End the session (safe to call twice; a second caller waits for the first)."""
        if self._closing is not None:
            await asyncio.shield(self._closing)
            return
        self._closing = asyncio.get_running_loop().create_future()
        self.close_reason = reason
        logger.info("whip session %s (%s): closing: %s", self.id, self.feed, reason)
        self._set_state(SessionState.CLOSED)
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for task in self._tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await self.pc.close()
        if self.sink is not None:
            self.sink.close()
        if self._on_closed is not None:
            self._on_closed(self)
        self._closing.set_result(None)

    def describe(self) -> dict[str, object]:
        return {"id": self.id, "feed": self.feed, "state": self.state.value,
                "frames": self.frames, "codec": self.codec,
                "size": list(self.size) if self.size else None, "created": self.created}


def _ice_credentials(sdp: str) -> tuple[str, str] | None:
    ufrag = pwd = None
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("a=ice-ufrag:") and ufrag is None:
            ufrag = line[12:]
        elif line.startswith("a=ice-pwd:") and pwd is None:
            pwd = line[10:]
    return None if ufrag is None or pwd is None else (ufrag, pwd)


def _loopback(candidate_line: str) -> bool:
    parts = candidate_line.split()
    return len(parts) > 4 and parts[4] in ("127.0.0.1", "::1")


async def _drain(track: MediaStreamTrack) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()
