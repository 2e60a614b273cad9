"""A simulated drone: a pymavlink vehicle flying a circle and sending real MAVLink 2 bytes
over UDP at the rates an autopilot uses (heartbeat 1 Hz, position 10 Hz, attitude 25 Hz,
gimbal 10 Hz, status 2 Hz). It is the demo's drone and the test suite's.

:meth:`SimVehicle.packets` is the pure part (what is due at a given flight time); the
sender thread only times and transmits. Faults (battery, GPS, silence) are set with
:meth:`SimVehicle.fault` while it flies.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone.signing import SigningKey, now_timestamp
from fieldkit.errors import IngestError

logger = logging.getLogger(__name__)

G = 9.80665
EARTH_M_PER_DEG = 111_320.0
#: Message -> rate in Hz, as ArduPilot's default stream rates roughly give them.
RATES: dict[str, float] = {
    "HEARTBEAT": 1.0,
    "GLOBAL_POSITION_INT": 10.0,
    "ATTITUDE": 25.0,
    "VFR_HUD": 4.0,
    "GPS_RAW_INT": 5.0,
    "SYS_STATUS": 2.0,
    "BATTERY_STATUS": 1.0,
    "GIMBAL_DEVICE_ATTITUDE_STATUS": 10.0,
    "MOUNT_ORIENTATION": 10.0,
    "CAMERA_INFORMATION": 0.2,
}
_PX4_AUTO_MISSION = (4 << 16) | (4 << 24)
_COPTER_GUIDED = 4


@dataclass
class SimSettings:
    """How the simulated drone flies and where it sends."""

    host: str = "127.0.0.1"
    port: int = 14550
    system_id: int = 1
    autopilot: Literal["ardupilot", "px4"] = "ardupilot"
    lat: float = 21.4225
    """Centre of the circle flown."""
    lon: float = 39.8262
    home_amsl_m: float = 277.0
    alt_m: float = 60.0
    """Height above home."""
    radius_m: float = 150.0
    speed_ms: float = 8.0
    gimbal_pitch_deg: float = -60.0
    battery_pct: float = 95.0
    """At take-off."""
    drain_pct_per_min: float = 2.0
    key: SigningKey | None = field(default=None, repr=False)


@dataclass
class _Faults:
    battery_pct: float | None = None
    gps_fix: int | None = None
    silent: bool = False


class SimVehicle:
    """``async start()`` sends until ``async stop()`` (safe twice)."""

    def __init__(self, settings: SimSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self._faults = _Faults()
        self._mav = self._endpoint(mavlink.MAV_COMP_ID_AUTOPILOT1)
        self._gimbal = self._endpoint(mavlink.MAV_COMP_ID_GIMBAL)
        self._due = dict.fromkeys(RATES, 0.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.sent = 0

    def _endpoint(self, component: int) -> Any:
        mav = mavlink.MAVLink(None, srcSystem=self.settings.system_id, srcComponent=component)
        if self.settings.key is not None:
            mav.signing.secret_key = self.settings.key.secret
            mav.signing.sign_outgoing = True
            mav.signing.timestamp = now_timestamp(self._clock)
            mav.signing.link_id = component & 0xFF
        return mav

    def fault(self, *, battery_pct: float | None = None, gps_fix: int | None = None,
              silent: bool | None = None) -> None:
        """Force a battery level or GPS fix type, or go silent (None leaves a fault as is)."""
        if battery_pct is not None:
            self._faults.battery_pct = battery_pct
        if gps_fix is not None:
            self._faults.gps_fix = gps_fix
        if silent is not None:
            self._faults.silent = silent

    # --- the flight ----------------------------------------------------------------------

    def where(self, t: float) -> tuple[float, float, float, float]:
        """(lat, lon, heading degrees, bank degrees) after ``t`` seconds of flight."""
        s = self.settings
        angle = s.speed_ms / s.radius_m * t  # clockwise seen from above, from north
        north, east = s.radius_m * math.cos(angle), s.radius_m * math.sin(angle)
        lat = s.lat + north / EARTH_M_PER_DEG
        lon = s.lon + east / (EARTH_M_PER_DEG * math.cos(math.radians(s.lat)))
        heading = (math.degrees(angle) + 90.0) % 360.0
        bank = math.degrees(math.atan(s.speed_ms ** 2 / (G * s.radius_m)))
        return lat, lon, heading, bank

    def packets(self, t: float) -> list[bytes]:
        """The packets due at flight time ``t`` (seconds), encoded; advances the schedule."""
        due = [name for name, at in self._due.items() if t >= at]
        out: list[bytes] = []
        for name in due:
            self._due[name] = max(self._due[name] + 1.0 / RATES[name], t)
            msg, endpoint = self._message(name, t)
            if msg is None:
                continue
            out.append(bytes(msg.pack(endpoint)))
            endpoint.seq = (endpoint.seq + 1) % 256
        return out

    def _message(self, name: str, t: float) -> tuple[Any, Any]:
        s, mav = self.settings, self._mav
        lat, lon, heading, bank = self.where(t)
        boot_ms = int(t * 1000) & 0xFFFFFFFF
        battery = self._faults.battery_pct
        if battery is None:
            battery = max(0.0, s.battery_pct - s.drain_pct_per_min * t / 60.0)
        fix = 3 if self._faults.gps_fix is None else self._faults.gps_fix
        px4 = s.autopilot == "px4"
        if name == "HEARTBEAT":
            base = (mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
                    | mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
            return mav.heartbeat_encode(
                mavlink.MAV_TYPE_QUADROTOR,
                mavlink.MAV_AUTOPILOT_PX4 if px4 else mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA,
                base, _PX4_AUTO_MISSION if px4 else _COPTER_GUIDED,
                mavlink.MAV_STATE_ACTIVE), mav
        if name == "GLOBAL_POSITION_INT":
            vn = s.speed_ms * math.cos(math.radians(heading))
            ve = s.speed_ms * math.sin(math.radians(heading))
            return mav.global_position_int_encode(
                boot_ms, round(lat * 1e7), round(lon * 1e7),
                round((s.home_amsl_m + s.alt_m) * 1000), round(s.alt_m * 1000),
                round(vn * 100), round(ve * 100), 0, round(heading * 100)), mav
        if name == "ATTITUDE":
            yaw = math.radians(heading if heading <= 180 else heading - 360)
            return mav.attitude_encode(boot_ms, math.radians(bank), math.radians(-3.0), yaw,
                                       0.0, 0.0, s.speed_ms / s.radius_m), mav
        if name == "VFR_HUD":
            return mav.vfr_hud_encode(s.speed_ms, s.speed_ms, round(heading) % 360, 45,
                                      s.home_amsl_m + s.alt_m, 0.0), mav
        if name == "GPS_RAW_INT":
            return mav.gps_raw_int_encode(
                int(t * 1e6), fix, round(lat * 1e7) if fix >= 2 else 0,
                round(lon * 1e7) if fix >= 2 else 0, round((s.home_amsl_m + s.alt_m) * 1000),
                80 if fix >= 3 else 9999, 120, round(s.speed_ms * 100),
                round(heading * 100), 14 if fix >= 3 else 3), mav
        if name == "SYS_STATUS":
            return mav.sys_status_encode(0, 0, 0, 250, round(14_000 + 2_800 * battery / 100),
                                         1_800, round(battery), 0, 0, 0, 0, 0, 0), mav
        if name == "BATTERY_STATUS":
            cell = round(3_500 + 700 * battery / 100)
            return mav.battery_status_encode(
                0, mavlink.MAV_BATTERY_FUNCTION_ALL, mavlink.MAV_BATTERY_TYPE_LIPO, 2_500,
                [cell] * 4 + [0xFFFF] * 6, 1_800, -1, -1, round(battery)), mav
        if name == "GIMBAL_DEVICE_ATTITUDE_STATUS":
            half = math.radians(s.gimbal_pitch_deg) / 2  # pitch only, vehicle-frame yaw 0
            return self._gimbal.gimbal_device_attitude_status_encode(
                0, 0, boot_ms, mavlink.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME,
                [math.cos(half), 0.0, math.sin(half), 0.0], 0.0, 0.0, 0.0, 0), self._gimbal
        if name == "MOUNT_ORIENTATION":
            if px4:
                return None, mav  # PX4 reports the gimbal through gimbal protocol v2 only
            return mav.mount_orientation_encode(boot_ms, 0.0, s.gimbal_pitch_deg, 0.0,
                                                heading), mav
        # CAMERA_INFORMATION: a 1/2.3" sensor behind a 4.5 mm lens, 1920x1080.
        return mav.camera_information_encode(
            boot_ms, list(b"fieldkit".ljust(32, b"\0")), list(b"sim".ljust(32, b"\0")), 1,
            4.5, 6.17, 3.47, 1920, 1080, 0, 0, 0, b""), mav

    # --- sending -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._thread is not None:
            raise IngestError("the simulator is already running")
        s = self.settings
        try:
            info = socket.getaddrinfo(s.host, s.port, type=socket.SOCK_DGRAM)[0]
            sock = socket.socket(info[0], socket.SOCK_DGRAM)
            sock.connect(info[4])
        except OSError as exc:
            raise IngestError(f"simulator: cannot send to {s.host}:{s.port}: {exc}") from exc
        self._sock = sock
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"fieldkit-drone-sim-{s.system_id}")
        self._thread.start()
        logger.info("simulated drone %d (%s) sending to %s:%d", s.system_id, s.autopilot,
                    s.host, s.port)

    async def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        await asyncio.to_thread(thread.join)
        if self._sock is not None:
            self._sock.close()

    def _run(self) -> None:
        assert self._sock is not None
        start = time.monotonic()
        while not self._stop.wait(0.005):
            packets = self.packets(time.monotonic() - start)
            if self._faults.silent:
                continue
            for packet in packets:
                try:
                    self._sock.send(packet)
                    self.sent += 1
                except OSError:  # nobody listening yet (ICMP refused): keep flying
                    pass
