"""Geo-referencing: from a drone's pose, gimbal attitude and camera, where on the ground
an image pixel lies, with an accuracy estimate.

Model: a pinhole camera over flat ground at a known elevation, on a local tangent plane
(exact enough within the few kilometres a drone camera sees; curvature adds < 0.1 m at
1 km). Frames are NED (north, east, down) for the world and FRD (forward, right, down)
for the camera; the camera looks along its forward axis. Euler angles are ZYX (yaw,
then pitch, then roll); pitch -90° looks straight down with the top of the image towards
the yaw heading.

Pixel coordinates are continuous: (0, 0) is the top-left corner of the image and
(width, height) the bottom-right one, so the optical axis is at (width/2, height/2).

Accuracy is a 1-sigma horizontal radius: the GPS error of the drone combined with the
ground displacement caused by a one-sigma attitude error about each camera axis and by
a one-sigma error of the height above ground (each found by projecting again with that
input perturbed, keeping the worse of + and -). It does not include
terrain that is not flat.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from fieldkit.errors import InvalidActionError

#: WGS84 semi-major axis and first eccentricity squared.
_A = 6_378_137.0
_E2 = 6.694379990141e-3


class GeorefError(InvalidActionError):
    """A pixel cannot be placed on the ground (above the horizon, no pose, drone below
    the ground plane...)."""


@dataclass(frozen=True, slots=True)
class CameraModel:
    """A pinhole camera."""

    width_px: int
    """Image width in pixels."""
    height_px: int
    """Image height in pixels."""
    hfov_deg: float
    """Horizontal field of view."""
    vfov_deg: float | None = None
    """Vertical field of view; None: from hfov and the aspect ratio (square pixels)."""
    mount_pitch_deg: float = -90.0
    """Pitch against the airframe when no gimbal attitude is known."""

    def __post_init__(self) -> None:
        if self.width_px <= 0 or self.height_px <= 0:
            raise ValueError(f"camera size must be positive, got "
                             f"{self.width_px}x{self.height_px}")
        for name, fov in (("hfov_deg", self.hfov_deg), ("vfov_deg", self.vfov_deg)):
            if fov is not None and not 0 < fov < 180:
                raise ValueError(f"{name} must be between 0 and 180 degrees, got {fov!r}")

    @property
    def vfov(self) -> float:
        if self.vfov_deg is not None:
            return self.vfov_deg
        half = math.atan(math.tan(math.radians(self.hfov_deg) / 2)
                         * self.height_px / self.width_px)
        return math.degrees(2 * half)

    def ray(self, u: float, v: float) -> tuple[float, float, float]:
        """The (forward, right, down) direction of pixel (u, v) in the camera frame."""
        fx = (self.width_px / 2) / math.tan(math.radians(self.hfov_deg) / 2)
        fy = (self.height_px / 2) / math.tan(math.radians(self.vfov) / 2)
        return 1.0, (u - self.width_px / 2) / fx, (v - self.height_px / 2) / fy


@dataclass(frozen=True, slots=True)
class Pose:
    """Where the drone is and how its camera points, at one instant."""

    lat: float
    lon: float
    alt_amsl_m: float
    alt_rel_m: float
    """Above the home (take-off) point."""
    roll_deg: float
    pitch_deg: float
    yaw_deg: float
    gimbal: tuple[float, float, float] | None = None
    """Camera (roll, pitch, yaw) in the earth frame from the gimbal; None: fixed mount."""
    position_accuracy_m: float | None = None


@dataclass(frozen=True, slots=True)
class Uncertainty:
    """One-sigma errors of the inputs."""

    angle_deg: float = 1.0
    """Each of roll, pitch and yaw of the camera."""
    height_m: float = 2.0
    """Height above the ground plane (barometer drift, ground not at the set elevation)."""
    position_m: float = 3.0
    """Drone position, when the GPS gives no estimate."""


@dataclass(frozen=True, slots=True)
class GroundPoint:
    """Where a pixel lies on the ground."""

    lat: float
    lon: float
    accuracy_m: float
    """1-sigma horizontal error radius."""
    distance_m: float
    """Horizontal distance from the point below the drone."""


def _rotation(yaw: float, pitch: float, roll: float) -> list[list[float]]:
    """NED-from-FRD rotation for ZYX Euler angles in degrees."""
    cy, sy = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    cp, sp = math.cos(math.radians(pitch)), math.sin(math.radians(pitch))
    cr, sr = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    return [
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ]


def _apply(m: list[list[float]], v: tuple[float, float, float]) -> tuple[float, float, float]:
    return (m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
            m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
            m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2])


def _matmul(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def _camera_rotation(pose: Pose, camera: CameraModel) -> list[list[float]]:
    """NED-from-camera rotation: the gimbal's earth-frame attitude, or the airframe's
    attitude composed with the fixed mount."""
    if pose.gimbal is not None:
        roll, pitch, yaw = pose.gimbal
        return _rotation(yaw, pitch, roll)
    return _matmul(_rotation(pose.yaw_deg, pose.pitch_deg, pose.roll_deg),
                   _rotation(0.0, camera.mount_pitch_deg, 0.0))


def _hit(rot: list[list[float]], ray: tuple[float, float, float],
         height: float) -> tuple[float, float] | None:
    """(north, east) metres from the drone to where the ray meets the ground, or None."""
    north, east, down = _apply(rot, ray)
    if down <= 1e-9:
        return None
    t = height / down
    return north * t, east * t


def _to_latlon(lat: float, lon: float, north: float, east: float) -> tuple[float, float]:
    s = math.sin(math.radians(lat))
    w = math.sqrt(1 - _E2 * s * s)
    meridian = _A * (1 - _E2) / (w ** 3)
    normal = _A / w
    new_lat = lat + math.degrees(north / meridian)
    new_lon = lon + math.degrees(east / (normal * math.cos(math.radians(lat))))
    new_lon = (new_lon + 180.0) % 360.0 - 180.0
    return new_lat, new_lon


def project(pose: Pose, camera: CameraModel, u: float, v: float, *,
            ground_elevation_m: float | None = None,
            sigma: Uncertainty = Uncertainty(),  # frozen: a safe default
            max_accuracy_m: float = 1000.0) -> GroundPoint:
    """Place pixel (u, v) on flat ground.

    :param ground_elevation_m: ground height AMSL; None: the ground is at the drone's home
        altitude (its relative altitude is the height).
    :raises GeorefError: the pixel looks at or above the horizon, the drone is not above
        the ground, or the point is so close to the horizon that its error would exceed
        ``max_accuracy_m``.
    """
    if not (0 <= u <= camera.width_px and 0 <= v <= camera.height_px):
        raise GeorefError(f"pixel ({u}, {v}) is outside the {camera.width_px}x"
                          f"{camera.height_px} image")
    height = (pose.alt_rel_m if ground_elevation_m is None
              else pose.alt_amsl_m - ground_elevation_m)
    if not height > 0:
        raise GeorefError(f"the drone is {height:.1f} m above the ground plane: nothing to "
                          "project onto")
    ray = camera.ray(u, v)
    rot = _camera_rotation(pose, camera)
    centre = _hit(rot, ray, height)
    if centre is None:
        raise GeorefError(f"pixel ({u}, {v}) looks at or above the horizon")
    # Attitude errors as small rotations about the camera's own axes (tilt, pan, and
    # roll about the optical axis): free of the gimbal lock Euler angles have at nadir.
    d = sigma.angle_deg
    trials: list[list[tuple[list[list[float]], float]]] = [
        [(_matmul(rot, _rotation(0.0, a, 0.0)), height) for a in (d, -d)],
        [(_matmul(rot, _rotation(a, 0.0, 0.0)), height) for a in (d, -d)],
        [(_matmul(rot, _rotation(0.0, 0.0, a)), height) for a in (d, -d)],
        [(rot, height + sigma.height_m), (rot, max(height - sigma.height_m, height / 2))],
    ]
    errors: list[float] = []
    for pair in trials:
        worst = 0.0
        for trial_rot, trial_height in pair:
            moved = _hit(trial_rot, ray, trial_height)
            if moved is None:
                raise GeorefError(f"pixel ({u}, {v}) is too close to the horizon to place "
                                  "on the ground")
            worst = max(worst, math.hypot(moved[0] - centre[0], moved[1] - centre[1]))
        errors.append(worst)
    position = pose.position_accuracy_m if pose.position_accuracy_m is not None \
        else sigma.position_m
    accuracy = math.sqrt(position ** 2 + sum(e * e for e in errors))
    if accuracy > max_accuracy_m:
        raise GeorefError(f"pixel ({u}, {v}) would be placed only within {accuracy:.0f} m "
                          f"(limit {max_accuracy_m:.0f} m): too close to the horizon")
    lat, lon = _to_latlon(pose.lat, pose.lon, *centre)
    return GroundPoint(lat=lat, lon=lon, accuracy_m=round(accuracy, 2),
                       distance_m=round(math.hypot(*centre), 2))


def _lerp_angle(a: float, b: float, f: float) -> float:
    delta = (b - a + 180.0) % 360.0 - 180.0
    return (a + f * delta) % 360.0


def interpolate(a: Pose, b: Pose, f: float) -> Pose:
    """The pose a fraction ``f`` (0..1) of the way from ``a`` to ``b``."""
    def lerp(x: float, y: float) -> float:
        return x + f * (y - x)

    gimbal = None
    if a.gimbal is not None and b.gimbal is not None:
        gimbal = (lerp(a.gimbal[0], b.gimbal[0]), lerp(a.gimbal[1], b.gimbal[1]),
                  _lerp_angle(a.gimbal[2], b.gimbal[2], f))
    else:
        gimbal = b.gimbal if f >= 0.5 else a.gimbal
    return Pose(lat=lerp(a.lat, b.lat), lon=lerp(a.lon, b.lon),
                alt_amsl_m=lerp(a.alt_amsl_m, b.alt_amsl_m),
                alt_rel_m=lerp(a.alt_rel_m, b.alt_rel_m),
                roll_deg=lerp(a.roll_deg, b.roll_deg), pitch_deg=lerp(a.pitch_deg, b.pitch_deg),
                yaw_deg=_lerp_angle(a.yaw_deg, b.yaw_deg, f), gimbal=gimbal,
                position_accuracy_m=b.position_accuracy_m)


RawPose = tuple[Any, ...]
"""(lat, lon, alt_amsl_m, alt_rel_m, roll, pitch, yaw, gimbal, position_accuracy_m): what
the link thread records, cheaply; turned into a :class:`Pose` only when asked for."""


def _pose(raw: RawPose) -> Pose:
    return Pose(lat=raw[0], lon=raw[1], alt_amsl_m=raw[2], alt_rel_m=raw[3], roll_deg=raw[4],
                pitch_deg=raw[5], yaw_deg=raw[6], gimbal=raw[7], position_accuracy_m=raw[8])


class PoseHistory:
    """The last ``keep_s`` seconds of poses, to align telemetry with video frames.

    Not locked itself: the receiver's lock guards it (written on the link thread, read
    by whoever holds that lock).
    """

    def __init__(self, keep_s: float = 30.0, max_gap_s: float = 1.0) -> None:
        self._keep_s = keep_s
        self._max_gap_s = max_gap_s
        self._times: deque[float] = deque()
        self._poses: deque[RawPose] = deque()

    def add(self, t: float, pose: RawPose) -> None:
        times = self._times
        if times and t < times[-1]:
            return  # clocks only move forward here; drop the stray
        times.append(t)
        self._poses.append(pose)
        if times[0] < t - self._keep_s:
            times.popleft()
            self._poses.popleft()

    def __len__(self) -> int:
        return len(self._times)

    def at(self, t: float) -> Pose | None:
        """The pose at time ``t`` (interpolated), or None if no pose lies within
        ``max_gap_s`` of it."""
        times, poses = list(self._times), list(self._poses)
        if not times:
            return None
        i = bisect.bisect_left(times, t)
        if i < len(times) and times[i] == t:
            return _pose(poses[i])
        if i == 0:
            return _pose(poses[0]) if times[0] - t <= self._max_gap_s else None
        if i == len(times):
            return _pose(poses[-1]) if t - times[-1] <= self._max_gap_s else None
        t0, t1 = times[i - 1], times[i]
        if t1 - t0 > 2 * self._max_gap_s:
            return None
        return interpolate(_pose(poses[i - 1]), _pose(poses[i]), (t - t0) / (t1 - t0))
