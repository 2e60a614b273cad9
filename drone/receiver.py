"""Bytes in, vehicle state out: pymavlink parsing, the signature check and the dispatch of
each message to the vehicle (system id) that sent it.

:meth:`Receiver.feed` is the whole per-link hot path; the link thread calls it for each
read, and ``fieldkit bench mavlink`` measures it against bare pymavlink parsing. It never
raises on bad input: random bytes, wrong CRCs, truncated packets and unknown message ids
are counted and skipped, and the parser resynchronises on the next packet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone.georef import CameraModel
from drone.signing import SignatureCheck, SigningKey, SigningStats, Verdict
from drone.state import BOOT_STAMPED, HANDLERS, TelemetrySample, VehicleState

logger = logging.getLogger(__name__)

#: A link carries a few vehicles; more system ids than this are noise or an attack.
MAX_VEHICLES_PER_LINK = 64
_NOT_VEHICLES = (mavlink.MAV_TYPE_GCS, mavlink.MAV_TYPE_GIMBAL, mavlink.MAV_TYPE_CAMERA,
                 mavlink.MAV_TYPE_ONBOARD_CONTROLLER, mavlink.MAV_TYPE_ADSB)


@dataclass
class LinkStats:
    """Counters of one link since it started."""

    bytes: int = 0
    packets: int = 0
    """Packets decoded and accepted."""
    bad_data: int = 0
    """Bad prefix, wrong CRC, bad length or unreadable payload."""
    truncated: int = 0
    """Datagrams that ended inside a packet."""
    unknown: int = 0
    """Packets with a message id this dialect does not know."""
    not_vehicle: int = 0
    """Packets from systems that are not (yet) a vehicle: ground stations, or before the
    autopilot's first heartbeat."""
    too_many_vehicles: int = 0
    forwarded: int = 0
    """Reads passed on to the ground station."""
    signing: SigningStats | None = None
    """Signature counters, when the link has a key."""
    rejected_values: int = field(default=0)
    """Messages with physically impossible values (filled from the vehicles)."""


_ACCEPTED = Verdict.ACCEPTED
_STX_V2, _STX_V1 = mavlink.PROTOCOL_MARKER_V2, mavlink.PROTOCOL_MARKER_V1
_MIN_V2 = mavlink.HEADER_LEN_V2 + 2  # header + CRC
_MIN_V1 = mavlink.HEADER_LEN_V1 + 2
_SIG_LEN = mavlink.MAVLINK_SIGNATURE_BLOCK_LEN


def _crc_fails(packet: bytearray, stx: int) -> bool:
    """Whether the packet's CRC is wrong (unknown message ids cannot be checked: False)."""
    if stx == _STX_V2:
        msgid = packet[7] | packet[8] << 8 | packet[9] << 16
        end = len(packet) - (_SIG_LEN if packet[2] & mavlink.MAVLINK_IFLAG_SIGNED else 0) - 2
    else:
        msgid, end = packet[5], len(packet) - 2
    kind = mavlink.mavlink_map.get(msgid)
    if kind is None:
        return False
    crc = mavlink.x25crc(packet[1:end])
    crc.accumulate([kind.crc_extra])
    return crc.crc != (packet[end] | packet[end + 1] << 8)


def _next_start(buf: bytearray, i: int) -> int:
    """Index of the next possible packet start at or after ``i`` (or len(buf))."""
    found = [j for j in (buf.find(_STX_V2, i), buf.find(_STX_V1, i)) if j >= 0]
    return min(found) if found else len(buf)


class Receiver:
    """Decodes one link's bytes into :class:`VehicleState` objects, one per system id.

    :param link: the link's name.
    :param names: system id -> configured vehicle name; others are called LINK-SYSID.
    :param cameras: system id -> camera; others use ``default_camera``.
    :param key: with a key, only correctly signed packets are accepted.
    :param datagrams: each read is whole packets (UDP): a partial packet left at the end
        of a read is dropped rather than joined to the next read.
    :param clock: wall clock for the signature check's new-stream window.
    """

    def __init__(self, link: str, *, default_camera: CameraModel,
                 names: Mapping[int, str] | None = None,
                 cameras: Mapping[int, CameraModel] | None = None,
                 key: SigningKey | None = None, datagrams: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self.link = link
        self._names = dict(names or {})
        self._cameras = dict(cameras or {})
        self._default_camera = default_camera
        self._datagrams = datagrams
        self._check = SignatureCheck(key, clock) if key is not None else None
        self._mav = mavlink.MAVLink(None)
        self._pending = bytearray()
        self.vehicles: dict[int, VehicleState] = {}
        self.stats = LinkStats(signing=self._check.stats if self._check else None)
        #: With a key: the packets of the last :meth:`feed` whose signature held, as
        #: received (what may be forwarded to the pilot's ground station). None without.
        self.verified: bytearray | None = None if key is None else bytearray()
        #: Held while bytes are applied and while state is read from another thread.
        self.lock = threading.Lock()

    def feed(self, data: bytes, now: float) -> int:
        """Apply one read received at ``now`` (Unix seconds). Returns packets accepted."""
        with self.lock:
            self.stats.bytes += len(data)
            if self.verified is not None:
                self.verified.clear()
            if self._datagrams:
                return self._frames(bytearray(data), now, datagram=True)
            self._pending += data
            return self._frames(self._pending, now, datagram=False)

    def _frames(self, buf: bytearray, now: float, *, datagram: bool) -> int:
        """Cut ``buf`` into packets and decode each with pymavlink.

        Framing is done here rather than by ``MAVLink.parse_buffer``: it is a third of
        pymavlink's per-packet cost, and after a bad packet pymavlink skips the whole
        length the bad header claimed, losing good packets behind it; this resumes at
        the next start byte instead.
        """
        stats, decode = self.stats, self._mav.decode
        check = None if self._check is None else self._check.check
        accepted, i, n = 0, 0, len(buf)
        while i < n:
            stx = buf[i]
            if stx == _STX_V2:
                if n - i < _MIN_V2:
                    break
                flags = buf[i + 2]
                if flags & ~mavlink.MAVLINK_IFLAG_SIGNED & 0xFF:
                    stats.bad_data += 1
                    i += 1
                    continue
                total = buf[i + 1] + (_MIN_V2 + _SIG_LEN if flags else _MIN_V2)
            elif stx == _STX_V1:
                if n - i < _MIN_V1:
                    break
                total = buf[i + 1] + _MIN_V1
            else:
                stats.bad_data += 1
                i = _next_start(buf, i + 1)
                continue
            if n - i < total:
                break
            # (A datagram holding exactly one packet is decoded in place; a stream buffer
            # is cut below, so its packets are always copies.)
            packet = buf if (datagram and i == 0 and total == n) else buf[i:i + total]
            if check is not None:
                # In a stream, garbage can look like a start byte: only a packet whose CRC
                # holds is judged (and counted) by the signature check.
                if not datagram and _crc_fails(packet, stx):
                    stats.bad_data += 1
                    i += 1
                    continue
                # Unauthenticated bytes are never decoded: the signature is checked first.
                if check(packet, buf[i + 2] if stx == _STX_V2 else 0, buf[i + 5],
                         buf[i + 6]) is not _ACCEPTED:
                    i += total
                    continue
                assert self.verified is not None
                self.verified += packet
            try:
                msg = decode(packet)
            except Exception:  # MAVError mostly; pymavlink must never take the link down
                stats.bad_data += 1
                i += 1
                continue
            i += total
            try:
                if self._accept(msg, now):
                    accepted += 1
            except Exception:  # a value no handler foresaw: skip it, keep the link
                logger.debug("link %s: cannot apply %s", self.link, msg, exc_info=True)
                stats.bad_data += 1
        if datagram:
            if i < n:
                stats.truncated += 1
        else:
            del buf[:i]
        stats.packets += accepted
        return accepted

    def _accept(self, msg: Any, now: float) -> bool:
        mtype = msg._type
        if mtype.startswith("UNKNOWN_"):
            self.stats.unknown += 1
            return False
        header = msg._header
        system = header.srcSystem
        vehicle = self.vehicles.get(system)
        if vehicle is None:
            vehicle = self._new_vehicle(msg, mtype, system)
            if vehicle is None:
                return False
        if mtype in BOOT_STAMPED:
            vehicle.check_session(mtype, header.srcComponent, msg, now)
        vehicle.count_sequence(header.srcComponent, header.seq)
        handler = HANDLERS.get(mtype)  # (VehicleState.apply, inlined: this is the hot path)
        if handler is not None:
            handler(vehicle, msg, now)
        return True

    def _new_vehicle(self, msg: Any, mtype: str, system: int) -> VehicleState | None:
        if (mtype != "HEARTBEAT" or msg.autopilot == mavlink.MAV_AUTOPILOT_INVALID
                or msg.type in _NOT_VEHICLES):
            self.stats.not_vehicle += 1
            return None
        if len(self.vehicles) >= MAX_VEHICLES_PER_LINK:
            self.stats.too_many_vehicles += 1
            return None
        name = self._names.get(system, f"{self.link}-{system}")
        vehicle = VehicleState(name=name, link=self.link, system_id=system,
                               camera=self._cameras.get(system, self._default_camera))
        self.vehicles[system] = vehicle
        logger.info("link %s: vehicle %s (system %d) appeared", self.link, name, system)
        return vehicle

    def samples(self, now: float) -> list[TelemetrySample]:
        """A sample of every vehicle seen, in system id order."""
        with self.lock:
            return [self.vehicles[s].sample(now) for s in sorted(self.vehicles)]

    def snapshot_stats(self) -> LinkStats:
        with self.lock:
            s = self.stats
            signing = None if s.signing is None else SigningStats(**vars(s.signing))
            return LinkStats(
                bytes=s.bytes, packets=s.packets, bad_data=s.bad_data, truncated=s.truncated,
                unknown=s.unknown, not_vehicle=s.not_vehicle,
                too_many_vehicles=s.too_many_vehicles, forwarded=s.forwarded, signing=signing,
                rejected_values=sum(v.rejected_values for v in self.vehicles.values()))
