"""One MAVLink link: a transport read on a named thread, fed to a :class:`Receiver`,
optionally forwarded unchanged to the pilot's ground station (and its replies back), so
the truck listens in without taking the link from the pilot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import selectors
import socket
import threading
import time
from collections.abc import Callable
from enum import StrEnum

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone.config import DroneLinkSection
from drone.receiver import LinkStats, Receiver
from drone.signing import SigningKey, now_timestamp
from drone.state import TelemetrySample
from drone.transport import Closed, Transport, UdpListen
from fieldkit.errors import IngestError

logger = logging.getLogger(__name__)

POLL_S = 0.2
REOPEN_S = 1.0
SILENT_S = 5.0
"""A tcp_connect link that receives nothing this long after connecting says so."""
#: Our own heartbeats (udp_connect only, so the far end learns where to send) come from
#: this system id: not 255, which autopilots treat as the pilot's ground station.
OBSERVER_SYSTEM_ID = 250


class LinkState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class DroneLink:
    """A started link reads until :meth:`stop`. ``start``/``stop`` are async; stop is safe
    to call twice.

    :param settings: the link's config section.
    :param receiver: decodes and holds the vehicles' state.
    :param transport: the byte transport (built from ``settings`` when None).
    :param key: the signing key, used to sign the observer heartbeats.
    """

    def __init__(self, settings: DroneLinkSection, receiver: Receiver,
                 transport: Transport, *, key: SigningKey | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.name = settings.name
        self.receiver = receiver
        self.state = LinkState.NEW
        self._transport = transport
        self._key = key
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._forward: socket.socket | None = None
        self._forward_to: tuple[str, int] | None = None
        self._opened = True

    def _set_state(self, state: LinkState) -> None:
        logger.info("drone link %s: %s -> %s", self.name, self.state, state)
        self.state = state

    @property
    def port(self) -> int | None:
        """The local UDP port of a udp_listen link (useful when configured as 0)."""
        if isinstance(self._transport, UdpListen) and self.state is LinkState.RUNNING:
            return self._transport.local_port
        return None

    async def start(self) -> None:
        if self.state is not LinkState.NEW:
            raise IngestError(f"drone link {self.name}: cannot start in state {self.state}")
        try:
            await asyncio.to_thread(self._open)
        except Closed as exc:
            # A TCP peer or serial radio that is not there yet is not a reason to keep
            # the node down: keep trying in the background.
            logger.warning("drone link %s: %s; will keep trying", self.name, exc)
            self._opened = False
        self._thread = threading.Thread(target=self._run, name=f"fieldkit-mavlink-{self.name}",
                                        daemon=True)
        self._set_state(LinkState.RUNNING)
        self._thread.start()
        logger.info("drone link %s: reading %s%s", self.name, self._transport.describe,
                    f", forwarding to {self._forward_to[0]}:{self._forward_to[1]}"
                    if self._forward_to else "")

    def _open(self) -> None:
        s = self.settings
        try:
            self._transport.open()
        except IngestError as exc:
            if s.kind in ("tcp_connect", "serial"):
                self._open_forward()
                raise Closed(str(exc)) from exc
            raise
        self._open_forward()

    def _open_forward(self) -> None:
        s = self.settings
        if s.forward_host is None:
            return
        try:
            info = socket.getaddrinfo(s.forward_host, s.forward_port, type=socket.SOCK_DGRAM)
            family, _, _, _, addr = info[0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
        except OSError as exc:
            self._transport.close()
            raise IngestError(f"drone link {self.name}: cannot forward to "
                              f"{s.forward_host}:{s.forward_port}: {exc}") from exc
        self._forward, self._forward_to = sock, (str(addr[0]), int(addr[1]))

    async def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        await asyncio.to_thread(thread.join)
        self._transport.close()
        if self._forward is not None:
            self._forward.close()
        self._set_state(LinkState.STOPPED)

    def samples(self) -> list[TelemetrySample]:
        return self.receiver.samples(self._clock())

    def stats(self) -> LinkStats:
        return self.receiver.snapshot_stats()

    # --- the link thread ---------------------------------------------------------------

    def _run(self) -> None:
        if not self._opened:
            self._reopen()
        while not self._stop.is_set():
            try:
                self._pump()
            except Closed as exc:
                logger.warning("drone link %s: %s; reopening", self.name, exc)
                self._transport.close()
                self._reopen()
            except Exception:  # report, then keep reading: the link must not die silently
                logger.exception("drone link %s: reader failed; resuming", self.name)
                self._stop.wait(REOPEN_S)

    def _reopen(self) -> None:
        while not self._stop.wait(REOPEN_S):
            try:
                self._transport.open()
            except IngestError as exc:
                logger.debug("drone link %s: %s", self.name, exc)
                continue
            logger.info("drone link %s: reopened %s", self.name, self._transport.describe)
            return

    def _pump(self) -> None:
        """Read until stopped or the transport closes."""
        transport, receiver, forward = self._transport, self.receiver, self._forward
        heartbeat = self._heartbeat_sender() if self.settings.kind == "udp_connect" else None
        next_beat = 0.0
        # A TCP port that accepts but never speaks MAVLink (a wrong port, a GCS's
        # console) looks like a quiet drone: say so instead of waiting silently.
        silent_at = time.monotonic() + SILENT_S if self.settings.kind == "tcp_connect" \
            else math.inf
        with selectors.DefaultSelector() as sel:
            sel.register(transport.fileno(), selectors.EVENT_READ, "link")
            if forward is not None:
                sel.register(forward.fileno(), selectors.EVENT_READ, "gcs")
            while not self._stop.is_set():
                if heartbeat is not None and time.monotonic() >= next_beat:
                    transport.write(heartbeat())
                    next_beat = time.monotonic() + 1.0
                if time.monotonic() >= silent_at:
                    logger.warning("drone link %s: connected to %s but nothing received in "
                                   "%.0f s: is that port a MAVLink stream?", self.name,
                                   transport.describe, SILENT_S)
                    silent_at = math.inf
                for key, _ in sel.select(POLL_S):
                    if key.data == "link":
                        data = transport.read()
                        if not data:
                            continue
                        silent_at = math.inf
                        if receiver.feed(data, self._clock()):
                            transport.confirm_sender()
                        # With a key, only what passed the signature check goes on.
                        out = data if receiver.verified is None else bytes(receiver.verified)
                        if out and forward is not None and self._forward_to is not None:
                            with contextlib.suppress(OSError):
                                forward.sendto(out, self._forward_to)
                                receiver.stats.forwarded += 1
                    elif forward is not None:
                        self._from_gcs(forward, transport)

    def _from_gcs(self, forward: socket.socket, transport: Transport) -> None:
        """The pilot's ground station answered: pass it to the vehicle, unchanged."""
        try:
            data, addr = forward.recvfrom(65535)
        except (BlockingIOError, ConnectionRefusedError):
            return
        if self._forward_to is not None and (addr[0], addr[1]) == self._forward_to:
            transport.write(data)

    def _heartbeat_sender(self) -> Callable[[], bytes]:
        mav = mavlink.MAVLink(None, srcSystem=OBSERVER_SYSTEM_ID,
                              srcComponent=mavlink.MAV_COMP_ID_ONBOARD_COMPUTER)
        if self._key is not None:
            mav.signing.secret_key = self._key.secret
            mav.signing.sign_outgoing = True
            mav.signing.timestamp = now_timestamp(self._clock)

        def beat() -> bytes:
            msg = mav.heartbeat_encode(mavlink.MAV_TYPE_ONBOARD_CONTROLLER,
                                       mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
            data = bytes(msg.pack(mav))
            mav.seq = (mav.seq + 1) % 256
            return data

        return beat
