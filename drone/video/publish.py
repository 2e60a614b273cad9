"""The pilot's publisher: ``fieldkit drone publish SOURCE --to URL --token T``.

SOURCE is a video file (looped), an RTSP/UDP/HTTP stream from the drone or its remote, a
V4L2 device (``/dev/video0``), or ``testsrc`` (a generated picture). Frames are sent by
WHIP (RFC 9725) with aiortc: one POST of a complete offer (all host candidates, so no
trickle is needed), DELETE when done. When the link is lost (the connection fails or
closes, the node is unreachable) it reconnects with backoff, with a fresh offer and a
fresh source. The token goes only into the Authorization header: never into logs,
errors or output.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import signal
import time
from collections.abc import Callable
from urllib.parse import urljoin

import aiohttp
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.contrib.media import MediaPlayer
from aiortc.rtcrtpsender import RTCRtpSender
from av import VideoFrame

from fieldkit.errors import IngestError
from fieldkit.tasks import wait_event

logger = logging.getLogger(__name__)

TrackFactory = Callable[[], tuple[MediaStreamTrack, Callable[[], None]]]
"""Opens the source: (video track, release function)."""


class PublishError(IngestError):
    """The node refused the offer (the reason is the node's), or no answer came.
    ``fatal``: retrying cannot help (a wrong token, an offer the node cannot take)."""

    def __init__(self, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


class PatternTrack(VideoStreamTrack):
    """A generated moving picture at ``fps`` (``testsrc``; also the bench's source)."""

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.index = 0
        self._t0: float | None = None
        y, x = np.mgrid[0:height, 0:width]
        self._base = np.dstack([(x * 255 // max(1, width - 1)), (y * 255 // max(1, height - 1)),
                                np.full_like(x, 96)]).astype(np.uint8)

    def picture(self, index: int) -> np.ndarray:
        image = self._base.copy()
        x = (index * 8) % max(1, self.width - 80)
        image[self.height // 2 - 40:self.height // 2 + 40, x:x + 80] = 255
        return image

    async def recv(self) -> VideoFrame:
        if self._t0 is None:
            self._t0 = time.monotonic()
        due = self._t0 + self.index / self.fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the source, not synchronisation
        frame = self.make(self.index)
        self.index += 1
        return frame

    def make(self, index: int) -> VideoFrame:
        frame = VideoFrame.from_ndarray(self.picture(index), format="bgr24")
        frame.pts = int(index * 90_000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90_000)
        return frame


def source_factory(source: str) -> TrackFactory:
    """How to open SOURCE for each (re)connection."""

    def open_source() -> tuple[MediaStreamTrack, Callable[[], None]]:
        if source == "testsrc":
            return PatternTrack(), lambda: None
        try:
            if source.startswith("/dev/video"):
                player = MediaPlayer(source, format="v4l2")
            elif source.startswith("rtsp://"):
                player = MediaPlayer(source, options={"rtsp_transport": "tcp"}, timeout=10)
            elif "://" in source:
                player = MediaPlayer(source, timeout=10)
            else:
                player = MediaPlayer(source, loop=True)
        except Exception as exc:  # av raises many error types; all mean "cannot open"
            raise IngestError(f"cannot open {source}: {exc}") from exc
        if player.video is None:
            raise IngestError(f"{source} has no video stream")

        def release() -> None:
            if player.video is not None:
                player.video.stop()

        return player.video, release

    return open_source


def _refusal(status: int, body: str) -> str:
    with contextlib.suppress(ValueError):
        import json

        reason = json.loads(body).get("error")
        if reason:
            return f"{status}: {reason}"
    return f"{status}: {body[:200]}"


class Publisher:
    """Publishes one source to one WHIP endpoint, reconnecting after a link loss.

    :param url: the WHIP endpoint, e.g. ``http://10.0.0.2:8470/whip``.
    :param token: the publisher's bearer token (kept out of logs and errors).
    :param tracks: opens the source for each connection.
    :param codec: ``video/VP8`` or ``video/H264`` first in the offer; None: aiortc's order.
    """

    def __init__(self, url: str, token: str, tracks: TrackFactory, codec: str | None = None,
                 backoff_s: float = 0.5, backoff_max_s: float = 10.0,
                 connect_timeout_s: float = 15.0,
                 on_event: Callable[[str], None] | None = None) -> None:
        self.url = url
        self.on_event = on_event or (lambda text: None)
        self._token = token
        self.tracks = tracks
        self.codec = codec
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.connect_timeout_s = connect_timeout_s
        self.connections = 0
        self.refused = False
        """The node refused for good (e.g. a wrong token): :meth:`run` returned."""
        self.location: str | None = None
        self.last_error = ""
        self.connected = asyncio.Event()
        self._stop = asyncio.Event()

    def __repr__(self) -> str:  # never shows the token
        return f"Publisher({self.url!r})"

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Publish until :meth:`stop`; reconnects with backoff."""
        delay = self.backoff_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            while not self._stop.is_set():
                try:
                    await self._once(http)
                    delay = self.backoff_s
                except (PublishError, IngestError) as exc:
                    self.last_error = str(exc)
                    logger.warning("publish to %s: %s", self.url, exc)
                    if isinstance(exc, PublishError) and exc.fatal:
                        self.refused = True
                        break
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    self.last_error = f"link down: {exc or type(exc).__name__}"
                    logger.warning("publish to %s: %s", self.url, self.last_error)
                if self._stop.is_set():
                    break
                self.on_event(f"{self.last_error}; reconnecting in {delay:.1f} s")
                logger.info("publish to %s: reconnecting in %.1f s", self.url, delay)
                await wait_event(self._stop, delay)
                delay = min(delay * 2, self.backoff_max_s)

    async def _once(self, http: aiohttp.ClientSession) -> None:
        track, release = self.tracks()
        pc = RTCPeerConnection()
        ended = asyncio.Event()

        up = asyncio.Event()

        @pc.on("connectionstatechange")
        def _state() -> None:
            logger.info("publish to %s: connection %s", self.url, pc.connectionState)
            if pc.connectionState == "connected":
                up.set()
            if pc.connectionState in ("failed", "closed"):
                ended.set()

        location = None
        try:
            transceiver = pc.addTransceiver(track, direction="sendonly")
            if self.codec is not None:
                caps = RTCRtpSender.getCapabilities("video")
                first = [c for c in caps.codecs if c.mimeType.lower() == self.codec.lower()]
                rest = [c for c in caps.codecs if c not in first]
                transceiver.setCodecPreferences(first + rest)
            await pc.setLocalDescription(await pc.createOffer())
            headers = {"Content-Type": "application/sdp",
                       "Authorization": f"Bearer {self._token}"}
            async with http.post(self.url, data=pc.localDescription.sdp,
                                 headers=headers) as resp:
                body = await resp.text()
                if resp.status != 201:
                    raise PublishError(f"{self.url} refused the offer: "
                                       f"{_refusal(resp.status, body)}",
                                       fatal=resp.status in (400, 401, 403, 404, 415))
                location = urljoin(self.url, resp.headers.get("Location", ""))
            await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
            self.location = location
            if not await self._first(up, ended, self.connect_timeout_s):
                if self._stop.is_set():
                    return
                raise PublishError(f"{self.url}: no connection within "
                                   f"{self.connect_timeout_s:g} s ({pc.connectionState})")
            self.connections += 1
            self.connected.set()
            logger.info("publishing to %s (session %s)", self.url, location)
            self.on_event(f"connected: session {location}")
            await self._first(ended, ended, None)
            if not self._stop.is_set():
                raise PublishError(f"{self.url}: link lost ({pc.connectionState})")
        finally:
            self.connected.clear()
            self.location = None
            if location is not None and self._stop.is_set():
                await self._delete(http, location)
            await pc.close()
            release()

    async def _first(self, wanted: asyncio.Event, failed: asyncio.Event,
                     timeout: float | None) -> bool:
        """Wait for ``wanted``, ``failed`` or :meth:`stop` (or ``timeout``): wanted.is_set()."""
        waits = [asyncio.ensure_future(e.wait()) for e in (wanted, failed, self._stop)]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        return wanted.is_set() and not (failed.is_set() and failed is not wanted)

    async def _delete(self, http: aiohttp.ClientSession, location: str) -> None:
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
            async with http.delete(location, headers={"Authorization": f"Bearer {self._token}"},
                                   timeout=aiohttp.ClientTimeout(total=3)):
                pass


async def publish(source: str, url: str, token: str, *, codec: str | None = None,
                  duration: float | None = None,
                  on_event: Callable[[str], None] | None = None) -> Publisher:
    """Publish ``source`` to ``url`` until SIGINT/SIGTERM or ``duration`` seconds pass."""
    publisher = Publisher(url, token, source_factory(source), codec=codec, on_event=on_event)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, publisher.stop)
    task = asyncio.create_task(publisher.run(), name="whip-publish")
    try:
        if duration is not None:
            await asyncio.wait({task}, timeout=duration)
        else:
            await task
    finally:
        publisher.stop()
        await task
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return publisher
