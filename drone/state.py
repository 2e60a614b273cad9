"""Live vehicle state, built from MAVLink messages, and the samples taken of it.

:class:`VehicleState` is updated in place by :meth:`VehicleState.apply`, one decoded
message at a time, on the link's thread. Values outside physical bounds (latitude 900°,
NaN attitude, battery 300%) are refused field by field and counted: a bad message never
overwrites a good value. :class:`TelemetrySample` is the frozen copy that leaves the link.

Every group of fields (:data:`FIELD_GROUPS`) carries the node time its last value arrived,
so a sample says how old its position, battery, GPS... are, each on its own. A new session
(the autopilot rebooted, or another one took the same system id) is told by the
autopilot's boot clock (``time_boot_ms``) not keeping pace: within one session it advances
with the node's clock, so a step back, a leap ahead or a stand-still over the time that
passed cannot be the same run. A heartbeat cannot tell (it has no time or session),
silence cannot either (a radio dropout is not a reboot), and the UDP sender's address
changes with NAT and ground stations. The old session's values are then cleared: they
describe another flight, not an old moment of this one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone.georef import CameraModel, Pose, PoseHistory

logger = logging.getLogger(__name__)

AUTOPILOTS = {
    mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA: "ardupilot",
    mavlink.MAV_AUTOPILOT_PX4: "px4",
}
_UINT16_UNKNOWN = 0xFFFF
_MAX_ALT_M = 50_000.0
_MIN_ALT_M = -1_000.0
_MAX_SPEED_MS = 300.0
_TWO_PI = 2 * math.pi
_DEG = 180.0 / math.pi
#: Poses are kept for time alignment at most this often (seconds).
_POSE_EVERY_S = 0.02
#: Fields that arrive together, each group with its own time (the heartbeat's fields,
#: mode, armed and autopilot, go by ``heartbeat_age_s``).
FIELD_GROUPS = ("position", "velocity", "attitude", "gimbal", "battery", "gps")
#: Between two boot-stamped packets the boot clock may stray this far from the time that
#: passed on the node's clock (packets delayed or reordered on the link) before a new
#: session is assumed...
SESSION_JUMP_S = 10.0
#: ...plus this share of the time between the two packets (clock drift, node clock slew).
SESSION_DRIFT = 0.01
#: Messages stamped with the sender's boot clock (``time_boot_ms``).
BOOT_STAMPED = frozenset({"GLOBAL_POSITION_INT", "ATTITUDE", "SYSTEM_TIME"})


@dataclass(frozen=True, slots=True)
class TelemetrySample:
    """One vehicle's state at one instant, as stored in ``drone_samples``."""

    vehicle: str
    """Configured name, or LINK-SYSID."""
    link: str
    system_id: int
    at: float
    """Node wall clock (Unix seconds) when sampled."""
    autopilot: str | None = None
    """ardupilot, px4 or other."""
    mode: str | None = None
    armed: bool | None = None
    lat: float | None = None
    lon: float | None = None
    alt_amsl_m: float | None = None
    alt_rel_m: float | None = None
    heading_deg: float | None = None
    groundspeed_ms: float | None = None
    roll_deg: float | None = None
    pitch_deg: float | None = None
    yaw_deg: float | None = None
    gimbal_roll_deg: float | None = None
    gimbal_pitch_deg: float | None = None
    gimbal_yaw_deg: float | None = None
    """Earth frame, degrees from true north."""
    hfov_deg: float | None = None
    vfov_deg: float | None = None
    battery_pct: float | None = None
    battery_v: float | None = None
    gps_fix: int | None = None
    """GPS_FIX_TYPE: 0-1 none, 2 2D, 3 3D, 4+ DGPS/RTK."""
    satellites: int | None = None
    gps_accuracy_m: float | None = None
    loss_pct: float | None = None
    """Packets lost since the previous sample, from sequence numbers (0-100)."""
    heartbeat_age_s: float | None = None
    """Seconds since the autopilot's last heartbeat."""
    position_age_s: float | None = None
    """Seconds since lat, lon and altitudes last arrived (None: never, this session)."""
    velocity_age_s: float | None = None
    """Seconds since heading and groundspeed last arrived."""
    attitude_age_s: float | None = None
    """Seconds since roll, pitch and yaw last arrived."""
    gimbal_age_s: float | None = None
    battery_age_s: float | None = None
    gps_age_s: float | None = None
    """Seconds since the fix type, satellites and accuracy last arrived."""
    session: int = 1
    """Sessions of this vehicle seen by the link (a reboot or new autopilot adds one)."""
    fresh: bool = True
    """Telemetry arrived since the previous sample (only such samples are stored)."""

    @property
    def has_position(self) -> bool:
        return self.lat is not None and self.lon is not None


def quaternion_to_euler(w: float, x: float, y: float, z: float) -> tuple[float, float, float]:
    """(roll, pitch, yaw) in radians, ZYX (aerospace) order."""
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return roll, pitch, yaw


@dataclass
class VehicleState:
    """Everything known about one vehicle (one MAVLink system id on one link)."""

    name: str
    link: str
    system_id: int
    camera: CameraModel
    autopilot: str | None = None
    mav_type: int | None = None
    mode: str | None = None
    armed: bool | None = None
    last_heartbeat: float | None = None
    lat: float | None = None
    lon: float | None = None
    alt_amsl_m: float | None = None
    alt_rel_m: float | None = None
    heading_deg: float | None = None
    groundspeed_ms: float | None = None
    roll_deg: float | None = None
    pitch_deg: float | None = None
    yaw_deg: float | None = None
    gimbal: tuple[float, float, float] | None = None
    """(roll, pitch, yaw) degrees; yaw in the earth frame."""
    hfov_deg: float | None = None
    vfov_deg: float | None = None
    battery_pct: float | None = None
    battery_v: float | None = None
    gps_fix: int | None = None
    satellites: int | None = None
    gps_accuracy_m: float | None = None
    packets: int = 0
    lost: int = 0
    rejected_values: int = 0
    """Messages (or fields) refused as physically impossible."""
    _window_packets: int = 0
    _window_lost: int = 0
    _last_seq: dict[int, int] = field(default_factory=dict)
    _pose_at: float = float("-inf")
    history: PoseHistory = field(default_factory=PoseHistory)
    session: int = 1
    seen: dict[str, float] = field(default_factory=dict)
    """Field group (:data:`FIELD_GROUPS`) -> node time its last value arrived."""
    news: bool = False
    """Telemetry arrived since the last sample."""
    _boot: dict[int, tuple[float, int]] = field(default_factory=dict)
    """Component -> (node time, time_boot_ms) of its last boot-stamped message."""

    def __post_init__(self) -> None:
        self._configured_camera = self.camera

    # --- sessions ----------------------------------------------------------------------

    def check_session(self, mtype: str, component: int, msg: Any, now: float) -> None:
        """Start a new session when ``msg``'s boot clock cannot continue the last one's."""
        if mtype not in BOOT_STAMPED:
            return
        boot_ms = msg.time_boot_ms
        last = self._boot.get(component)
        self._boot[component] = (now, boot_ms)
        if last is None:
            return
        then, last_ms = last
        elapsed = max(0.0, now - then)
        step = (boot_ms - last_ms) / 1000.0
        slack = SESSION_JUMP_S + SESSION_DRIFT * elapsed
        if abs(step - elapsed) <= slack:
            return  # the boot clock kept pace with ours: the same run
        self._new_session(then, f"boot clock of component {component} went from "
                          f"{last_ms / 1000:.1f} s to {boot_ms / 1000:.1f} s "
                          f"in {elapsed:.1f} s")
        self._boot = {component: (now, boot_ms)}

    def _new_session(self, old_until: float, why: str) -> None:
        """Forget what the previous session reported up to ``old_until`` (node time of
        its last boot-stamped message): values that arrived since are the new one's."""
        self.session += 1
        logger.info("vehicle %s (system %d) on %s: new session %d (%s); clearing the "
                    "previous session's telemetry", self.name, self.system_id, self.link,
                    self.session, why)
        old = {g for g, t in self.seen.items() if t <= old_until}
        for group in old:
            del self.seen[group]
            for name in _GROUP_FIELDS[group]:
                setattr(self, name, None)
        if self.last_heartbeat is not None and self.last_heartbeat <= old_until:
            self.autopilot = self.mode = self.armed = self.mav_type = None
        self.hfov_deg = self.vfov_deg = None
        self.camera = self._configured_camera
        self._last_seq.clear()
        self._window_packets = self._window_lost = 0

    def _saw(self, group: str, now: float) -> None:
        self.seen[group] = now
        self.news = True

    # --- applying messages -------------------------------------------------------------

    def count_sequence(self, component: int, seq: int) -> None:
        """Link quality: a gap in a component's sequence numbers is packets lost."""
        last = self._last_seq.get(component)
        if last is not None:
            gap = (seq - last - 1) & 0xFF
            if gap and gap < 128:  # larger "gaps" are reordering or a restart, not loss
                self.lost += gap
                self._window_lost += gap
        self._last_seq[component] = seq
        self.packets += 1
        self._window_packets += 1

    def apply(self, msg: Any, now: float) -> None:
        """Update from one decoded message received at ``now`` (Unix seconds)."""
        self.check_session(msg.get_type(), msg.get_srcComponent(), msg, now)
        handler = HANDLERS.get(msg.get_type())
        if handler is not None:
            handler(self, msg, now)

    def _heartbeat(self, msg: Any, now: float) -> None:
        if msg.autopilot == mavlink.MAV_AUTOPILOT_INVALID:
            return  # a gimbal, camera or other component of this system
        self.last_heartbeat = now
        self.news = True
        self.autopilot = AUTOPILOTS.get(msg.autopilot, "other")
        self.mav_type = msg.type
        self.armed = bool(msg.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
        self.mode = str(mavutil.mode_string_v10(msg))

    def _global_position(self, msg: Any, now: float) -> None:
        lat, lon = msg.lat / 1e7, msg.lon / 1e7
        alt, rel = msg.alt / 1000.0, msg.relative_alt / 1000.0
        if msg.lat == 0 and msg.lon == 0:
            return  # ArduPilot's "no position yet"
        if not (-90 <= lat <= 90 and -180 <= lon <= 180  # (NaN fails every comparison)
                and _MIN_ALT_M <= alt <= _MAX_ALT_M and _MIN_ALT_M <= rel <= _MAX_ALT_M):
            self.rejected_values += 1
            return
        self.lat, self.lon, self.alt_amsl_m, self.alt_rel_m = lat, lon, alt, rel
        if msg.hdg != _UINT16_UNKNOWN and msg.hdg <= 36000:
            self.heading_deg = msg.hdg / 100.0
        self.groundspeed_ms = math.hypot(msg.vx, msg.vy) / 100.0
        self._saw("position", now)
        self._saw("velocity", now)
        self._record_pose(now)

    def _vfr_hud(self, msg: Any, now: float) -> None:
        if 0 <= msg.groundspeed <= _MAX_SPEED_MS:
            self.groundspeed_ms = float(msg.groundspeed)
            self._saw("velocity", now)
        else:
            self.rejected_values += 1
        if 0 <= msg.heading <= 360:
            self.heading_deg = float(msg.heading)

    def _attitude(self, msg: Any, now: float) -> None:
        r, p, y = msg.roll, msg.pitch, msg.yaw
        # Bounds also refuse NaN (every comparison with NaN is false) and infinities.
        if not (-_TWO_PI <= r <= _TWO_PI and -math.pi <= p <= math.pi
                and -_TWO_PI <= y <= _TWO_PI):
            self.rejected_values += 1
            return
        self.roll_deg, self.pitch_deg = r * _DEG, p * _DEG
        self.yaw_deg = (y * _DEG) % 360.0
        self._saw("attitude", now)
        self._record_pose(now)

    def _gimbal_device(self, msg: Any, now: float) -> None:
        q = msg.q
        if len(q) != 4:
            self.rejected_values += 1
            return
        w, x, y, z = q
        if not 0.5 < w * w + x * x + y * y + z * z < 1.5:  # a unit quaternion; NaN fails too
            self.rejected_values += 1
            return
        roll, pitch, yaw = quaternion_to_euler(w, x, y, z)
        roll, pitch, yaw = roll * _DEG, pitch * _DEG, yaw * _DEG
        earth = bool(msg.flags & mavlink.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME) or (
            bool(msg.flags & mavlink.GIMBAL_DEVICE_FLAGS_YAW_LOCK)
            and not msg.flags & mavlink.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME)
        self._set_gimbal(roll, pitch, yaw, earth, now)

    def _mount_orientation(self, msg: Any, now: float) -> None:
        r, p, y, ya = msg.roll, msg.pitch, msg.yaw, msg.yaw_absolute
        if not (-360 <= r <= 360 and -360 <= p <= 360 and -360 <= y <= 360):
            self.rejected_values += 1
            return
        if -360 <= ya <= 360 and (ya != 0 or y == 0):
            self._set_gimbal(r, p, ya, True, now)
        else:
            self._set_gimbal(r, p, y, False, now)

    def _set_gimbal(self, roll: float, pitch: float, yaw: float, earth: bool,
                    now: float) -> None:
        if not earth:
            if self.yaw_deg is None:
                return  # cannot place a vehicle-frame yaw without the vehicle's heading
            yaw += self.yaw_deg
        self.gimbal = (roll, pitch, yaw % 360.0)
        self._saw("gimbal", now)
        self._record_pose(now)

    def _camera_fov(self, msg: Any, now: float) -> None:
        if 0 < msg.hfov < 180 and 0 < msg.vfov < 180:
            self.hfov_deg, self.vfov_deg = float(msg.hfov), float(msg.vfov)
        else:
            self.rejected_values += 1

    def _camera_information(self, msg: Any, now: float) -> None:
        f, sh, sv = msg.focal_length, msg.sensor_size_h, msg.sensor_size_v
        if not (0.1 <= f <= 2000 and 0.1 <= sh <= 100 and 0.1 <= sv <= 100):
            return  # unknown optics (zeros are common): keep the configured camera
        self.hfov_deg = math.degrees(2 * math.atan(sh / (2 * f)))
        self.vfov_deg = math.degrees(2 * math.atan(sv / (2 * f)))
        if 16 <= msg.resolution_h <= 16384 and 16 <= msg.resolution_v <= 16384:
            self.camera = CameraModel(width_px=msg.resolution_h, height_px=msg.resolution_v,
                                      hfov_deg=self.hfov_deg, vfov_deg=self.vfov_deg,
                                      mount_pitch_deg=self.camera.mount_pitch_deg)

    def _sys_status(self, msg: Any, now: float) -> None:
        if 0 <= msg.battery_remaining <= 100:
            self.battery_pct = float(msg.battery_remaining)
            self._saw("battery", now)
        elif msg.battery_remaining != -1:
            self.rejected_values += 1
        if msg.voltage_battery not in (0, _UINT16_UNKNOWN):
            self.battery_v = msg.voltage_battery / 1000.0
            self._saw("battery", now)

    def _battery_status(self, msg: Any, now: float) -> None:
        if msg.id != 0:
            return  # the first battery speaks for the vehicle
        if 0 <= msg.battery_remaining <= 100:
            self.battery_pct = float(msg.battery_remaining)
            self._saw("battery", now)
        elif msg.battery_remaining != -1:
            self.rejected_values += 1
        cells = [v for v in msg.voltages if v not in (0, _UINT16_UNKNOWN)]
        if cells:
            self.battery_v = sum(cells) / 1000.0
            self._saw("battery", now)

    def _gps_raw(self, msg: Any, now: float) -> None:
        if not 0 <= msg.fix_type <= 8:
            self.rejected_values += 1
            return
        self.gps_fix = msg.fix_type
        self.satellites = None if msg.satellites_visible == 255 else msg.satellites_visible
        if msg.eph not in (0, _UINT16_UNKNOWN):
            # eph is HDOP x100; ~2.5 m per unit of HDOP for a consumer receiver.
            self.gps_accuracy_m = round(msg.eph / 100.0 * 2.5, 2)
        self._saw("gps", now)

    def _record_pose(self, now: float) -> None:
        if now - self._pose_at < _POSE_EVERY_S:
            return
        if self.lat is None or self.yaw_deg is None:
            return
        self._pose_at = now
        self.history.add(now, (self.lat, self.lon, self.alt_amsl_m, self.alt_rel_m,
                               self.roll_deg, self.pitch_deg, self.yaw_deg, self.gimbal,
                               self.gps_accuracy_m))

    # --- reading -----------------------------------------------------------------------

    def pose(self) -> Pose | None:
        """The camera's pose now, or None while position or attitude is unknown."""
        if (self.lat is None or self.lon is None or self.alt_amsl_m is None
                or self.alt_rel_m is None or self.yaw_deg is None or self.pitch_deg is None
                or self.roll_deg is None):
            return None
        return Pose(lat=self.lat, lon=self.lon, alt_amsl_m=self.alt_amsl_m,
                    alt_rel_m=self.alt_rel_m, roll_deg=self.roll_deg,
                    pitch_deg=self.pitch_deg, yaw_deg=self.yaw_deg, gimbal=self.gimbal,
                    position_accuracy_m=self.gps_accuracy_m)

    def camera_model(self) -> CameraModel:
        if self.hfov_deg is None:
            return self.camera
        return CameraModel(width_px=self.camera.width_px, height_px=self.camera.height_px,
                           hfov_deg=self.hfov_deg, vfov_deg=self.vfov_deg,
                           mount_pitch_deg=self.camera.mount_pitch_deg)

    def age(self, group: str, now: float) -> float | None:
        """Seconds since ``group`` last arrived (None: not this session)."""
        at = self.seen.get(group)
        return None if at is None else round(max(0.0, now - at), 3)

    def sample(self, now: float) -> TelemetrySample:
        """A frozen copy; resets the link-quality window and the news flag."""
        seen = self._window_packets + self._window_lost
        loss = round(100.0 * self._window_lost / seen, 2) if seen else None
        self._window_packets = self._window_lost = 0
        fresh, self.news = self.news, False
        gimbal = self.gimbal or (None, None, None)
        return TelemetrySample(
            vehicle=self.name, link=self.link, system_id=self.system_id, at=now,
            autopilot=self.autopilot, mode=self.mode, armed=self.armed,
            lat=self.lat, lon=self.lon, alt_amsl_m=self.alt_amsl_m, alt_rel_m=self.alt_rel_m,
            heading_deg=self.heading_deg, groundspeed_ms=self.groundspeed_ms,
            roll_deg=self.roll_deg, pitch_deg=self.pitch_deg, yaw_deg=self.yaw_deg,
            gimbal_roll_deg=gimbal[0], gimbal_pitch_deg=gimbal[1], gimbal_yaw_deg=gimbal[2],
            hfov_deg=self.hfov_deg if self.hfov_deg is not None else self.camera.hfov_deg,
            vfov_deg=self.vfov_deg if self.vfov_deg is not None else self.camera.vfov,
            battery_pct=self.battery_pct, battery_v=self.battery_v, gps_fix=self.gps_fix,
            satellites=self.satellites, gps_accuracy_m=self.gps_accuracy_m, loss_pct=loss,
            heartbeat_age_s=(None if self.last_heartbeat is None
                             else round(max(0.0, now - self.last_heartbeat), 3)),
            position_age_s=self.age("position", now), velocity_age_s=self.age("velocity", now),
            attitude_age_s=self.age("attitude", now), gimbal_age_s=self.age("gimbal", now),
            battery_age_s=self.age("battery", now), gps_age_s=self.age("gps", now),
            session=self.session, fresh=fresh,
        )


#: Field group -> the VehicleState attributes it holds.
_GROUP_FIELDS: dict[str, tuple[str, ...]] = {
    "position": ("lat", "lon", "alt_amsl_m", "alt_rel_m"),
    "velocity": ("heading_deg", "groundspeed_ms"),
    "attitude": ("roll_deg", "pitch_deg", "yaw_deg"),
    "gimbal": ("gimbal",),
    "battery": ("battery_pct", "battery_v"),
    "gps": ("gps_fix", "satellites", "gps_accuracy_m"),
}

#: Message type -> the VehicleState method that applies it.
HANDLERS: dict[str, Callable[[VehicleState, Any, float], None]] = {
    "HEARTBEAT": VehicleState._heartbeat,
    "GLOBAL_POSITION_INT": VehicleState._global_position,
    "VFR_HUD": VehicleState._vfr_hud,
    "ATTITUDE": VehicleState._attitude,
    "GIMBAL_DEVICE_ATTITUDE_STATUS": VehicleState._gimbal_device,
    "MOUNT_ORIENTATION": VehicleState._mount_orientation,
    "CAMERA_FOV_STATUS": VehicleState._camera_fov,
    "CAMERA_INFORMATION": VehicleState._camera_information,
    "SYS_STATUS": VehicleState._sys_status,
    "BATTERY_STATUS": VehicleState._battery_status,
    "GPS_RAW_INT": VehicleState._gps_raw,
}
