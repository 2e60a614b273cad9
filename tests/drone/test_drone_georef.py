"""Geo-referencing against hand-computed cases: 100 m above flat ground at 45°N."""

from __future__ import annotations

import math

import pytest

from drone.georef import CameraModel, GeorefError, Pose, PoseHistory, Uncertainty, project

LAT, LON, H = 45.0, 7.0, 100.0
# WGS84 radii of curvature at 45°, written out independently of the module.
_A, _E2 = 6378137.0, 0.00669437999014
_W = math.sqrt(1 - _E2 * math.sin(math.radians(LAT)) ** 2)
M_PER_DEG_LAT = math.radians(1) * _A * (1 - _E2) / _W**3
M_PER_DEG_LON = math.radians(1) * _A / _W * math.cos(math.radians(LAT))

#: 1000x1000 pixels, 90° fields of view: the image edge is 45° off the axis (tan = 1).
CAM = CameraModel(width_px=1000, height_px=1000, hfov_deg=90.0)


def pose(gimbal: tuple[float, float, float] | None = (0.0, -90.0, 0.0), *, yaw: float = 0.0,
         pitch: float = 0.0, roll: float = 0.0) -> Pose:
    return Pose(lat=LAT, lon=LON, alt_amsl_m=337.0, alt_rel_m=H, roll_deg=roll,
                pitch_deg=pitch, yaw_deg=yaw, gimbal=gimbal, position_accuracy_m=3.0)


def offset_m(point: object) -> tuple[float, float]:
    """(north, east) metres of a GroundPoint from the drone."""
    return ((point.lat - LAT) * M_PER_DEG_LAT, (point.lon - LON) * M_PER_DEG_LON)  # type: ignore[attr-defined]


def test_nadir_centre_is_below_the_drone_with_accuracy_from_angles_and_gps():
    p = project(pose(), CAM, 500, 500)
    assert offset_m(p) == pytest.approx((0.0, 0.0), abs=1e-6)
    # GPS 3 m, pitch and roll 1° each at 100 m: 100 tan 1° = 1.7455 m; yaw and height
    # move nothing at nadir.
    assert p.accuracy_m == pytest.approx(math.sqrt(9 + 2 * (100 * math.tan(math.radians(1))) ** 2),
                                         abs=0.01)
    assert p.distance_m == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(("u", "v", "north", "east"), [
    (1000, 500, 0.0, 100.0),    # right edge: 45° east
    (0, 500, 0.0, -100.0),      # left edge
    (500, 0, 100.0, 0.0),       # top edge: towards the heading (north)
    (500, 1000, -100.0, 0.0),   # bottom edge
    (750, 500, 0.0, 50.0),      # half-way to the edge: tan = 0.5
])
def test_nadir_edges(u, v, north, east):
    assert offset_m(project(pose(), CAM, u, v)) == pytest.approx((north, east), abs=1e-3)


def test_oblique_45_degrees_looks_100_m_ahead():
    p = project(pose((0.0, -45.0, 0.0)), CAM, 500, 500)
    assert offset_m(p) == pytest.approx((100.0, 0.0), abs=1e-3)
    assert p.distance_m == pytest.approx(100.0, abs=0.01)


@pytest.mark.parametrize(("yaw", "north", "east"), [
    (90.0, 0.0, 100.0),
    (180.0, -100.0, 0.0),
    (30.0, 100 * math.cos(math.radians(30)), 50.0),
    (-45.0, 100 / math.sqrt(2), -100 / math.sqrt(2)),
])
def test_yawed_gimbal(yaw, north, east):
    p = project(pose((0.0, -45.0, yaw)), CAM, 500, 500)
    assert offset_m(p) == pytest.approx((north, east), abs=1e-3)


def test_fixed_mount_follows_the_airframe_heading():
    # No gimbal: camera fixed looking down; the airframe heads east, so the top of the
    # image points east.
    p = project(pose(None, yaw=90.0), CAM, 500, 0)
    assert offset_m(p) == pytest.approx((0.0, 100.0), abs=1e-3)


def test_fixed_mount_pitched_airframe():
    # Nose down 45° with a forward-looking mount (pitch 0): centre 100 m ahead.
    cam = CameraModel(width_px=1000, height_px=1000, hfov_deg=90.0, mount_pitch_deg=0.0)
    p = project(pose(None, pitch=-45.0), cam, 500, 500)
    assert offset_m(p) == pytest.approx((100.0, 0.0), abs=1e-3)


def test_ground_elevation_sets_the_height():
    # 337 m AMSL over ground at 287 m: 50 m high, so the right edge is 50 m east.
    p = project(pose(), CAM, 1000, 500, ground_elevation_m=287.0)
    assert offset_m(p) == pytest.approx((0.0, 50.0), abs=1e-3)


@pytest.mark.parametrize(("gimbal", "u", "v"), [
    ((0.0, 0.0, 0.0), 500, 250),   # level camera, upper half: sky
    ((0.0, 0.0, 0.0), 500, 500),   # level camera, centre: the horizon itself
    ((0.0, 50.0, 0.0), 500, 1000),  # tilted up 50°: even the bottom edge (+5°) is sky
])
def test_pixel_above_the_horizon_is_refused(gimbal, u, v):
    with pytest.raises(GeorefError, match=rf"pixel \({u}, {v}\) looks at or above the horizon"):
        project(pose(gimbal), CAM, u, v)


def test_grazing_pixel_is_refused_for_its_error():
    # 2° below the horizon: 2.9 km away, and 1° of pitch error doubles that.
    with pytest.raises(GeorefError, match="too close to the horizon"):
        project(pose((0.0, -2.0, 0.0)), CAM, 500, 500)


def test_shallow_but_placeable_pixel_reports_a_large_error():
    p = project(pose((0.0, -10.0, 0.0)), CAM, 500, 500)
    assert p.distance_m == pytest.approx(100 / math.tan(math.radians(10)), abs=0.01)
    # pitch ±1° moves it to 100/tan 9° = 631.4 m or 100/tan 11° = 514.5 m: worst 64.3 m.
    assert p.accuracy_m > 64


def test_drone_below_the_ground_plane_is_refused():
    with pytest.raises(GeorefError, match="above the ground plane"):
        project(pose(), CAM, 500, 500, ground_elevation_m=400.0)


def test_pixel_outside_the_image_is_refused():
    with pytest.raises(GeorefError, match=r"pixel \(1001, 5\) is outside the 1000x1000 image"):
        project(pose(), CAM, 1001, 5)


def test_uncertainty_inputs_scale_the_estimate():
    tight = project(pose(), CAM, 500, 500, sigma=Uncertainty(angle_deg=0.1))
    loose = project(pose(), CAM, 500, 500, sigma=Uncertainty(angle_deg=3.0))
    assert 3.0 <= tight.accuracy_m < loose.accuracy_m


def test_camera_model_checks_its_values():
    with pytest.raises(ValueError, match="hfov_deg must be between 0 and 180 degrees, got 180"):
        CameraModel(width_px=10, height_px=10, hfov_deg=180)
    assert CameraModel(1920, 1080, 90).vfov == pytest.approx(
        math.degrees(2 * math.atan(1080 / 1920)))


def _raw(lat: float, yaw: float) -> tuple[object, ...]:
    return (lat, LON, 337.0, H, 0.0, 0.0, yaw, (0.0, -90.0, yaw), 2.0)


def test_pose_history_interpolates_between_samples():
    h = PoseHistory(keep_s=30, max_gap_s=1)
    h.add(100.0, _raw(45.0, 350.0))
    h.add(100.5, _raw(45.001, 10.0))
    mid = h.at(100.25)
    assert mid is not None
    assert mid.lat == pytest.approx(45.0005)
    assert mid.yaw_deg == pytest.approx(0.0, abs=1e-9)  # through north, not through 180
    assert h.at(100.5).lat == 45.001  # type: ignore[union-attr]
    assert h.at(101.4) is not None  # within max_gap of the last
    assert h.at(102.0) is None
    assert h.at(98.0) is None


def test_pose_history_forgets_old_poses():
    h = PoseHistory(keep_s=1.0)
    for i in range(50):
        h.add(i * 0.1, _raw(45.0, 0.0))
    assert len(h) <= 12
