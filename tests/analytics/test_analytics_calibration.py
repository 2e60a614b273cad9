"""Homographies from surveyed points; bad calibrations refused with the reason."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import camera_for, small_scene

from fieldkit.analytics.calibration import (
    CalibrationError,
    calibration_from_points,
    polygon_area,
)
from fieldkit.analytics.cli import camera as camera_cli
from fieldkit.analytics.config import CalibrationSection, CamerasSection
from fieldkit.analytics.detector import Detector
from fieldkit.analytics.pipeline import Analyser, camera_location
from fieldkit.analytics.scene import PinholeCamera

GROUND = [(0.0, 0.0), (10.0, 0.0), (10.0, 20.0), (0.0, 20.0)]
IMAGE = [(100.0, 700.0), (1180.0, 700.0), (900.0, 250.0), (380.0, 250.0)]


def test_recovers_the_scene_camera_exactly() -> None:
    camera = PinholeCamera(small_scene())
    image, ground = camera.calibration_points()
    cal = calibration_from_points(image, ground)
    assert cal.error_m < 0.01
    probe = np.array([[1.5, 7.25], [-2.0, 4.0], [0.0, 8.5]])
    pixels = camera.project(np.column_stack([probe, np.zeros(3)]))
    assert np.allclose(cal.image_to_ground(pixels), probe, atol=0.02)
    assert np.allclose(cal.ground_to_image(probe), pixels, atol=0.5)


def test_latlon_points_work_in_local_metres() -> None:
    lat0, lon0 = 21.4225, 39.8726
    deg_lat = 1 / 111_320
    deg_lon = 1 / (111_320 * np.cos(np.radians(lat0)))
    ground = [(lat0 + y * deg_lat, lon0 + x * deg_lon) for x, y in GROUND]
    cal = calibration_from_points(IMAGE, ground, units="latlon")
    metres = cal.ground_polygon(ground)
    assert polygon_area(metres) == pytest.approx(200.0, rel=1e-3)
    back = cal.to_latlon(cal.image_to_ground(np.array(IMAGE)))
    assert back is not None
    assert np.allclose(back, ground, atol=1e-7)


@pytest.mark.parametrize(("image", "ground", "reason"), [
    (IMAGE, [(0, 0), (5, 0), (10, 0), (20, 0)],
     "the ground points lie on one line; a ground plane needs points spread in two directions"),
    ([(100, 700), (500, 700), (900, 700), (380, 250)], GROUND,
     "image points 1, 2, 3 lie on one line; with four points no three may be collinear"),
    (IMAGE, [(0, 0), (10, 0), (10, 0), (0, 20)], "ground points 2 and 3 are the same"),
    ([(100, 700), (101, 700), (101, 701), (100, 701)], GROUND,
     "the image points are too close together"),
])
def test_degenerate_points_are_refused(image: list, ground: list, reason: str) -> None:
    with pytest.raises(CalibrationError) as err:
        calibration_from_points(image, ground, camera="gate3")
    assert str(err.value).startswith("cameras -> gate3 -> calibration: ")
    assert reason in str(err.value)


def test_a_mismeasured_point_is_named() -> None:
    camera = PinholeCamera(small_scene())
    pts = np.array([[-3, 3, 0], [3, 3, 0], [3, 9, 0], [-3, 9, 0], [0, 6, 0]], float)
    image = [tuple(p) for p in camera.project(pts)]
    ground = [(-3, 3), (3, 3), (3, 9), (-3, 9), (0, 7.5)]  # the fifth is 1.5 m off
    with pytest.raises(CalibrationError, match=r"point \d \(image .*\) is \d+\.\d\d m from "
                       r"where the other points put it \(limit 0\.5 m\); re-measure it"):
        calibration_from_points(image, ground)


def test_points_that_straddle_the_horizon_are_refused() -> None:
    image = [(100, 700), (1180, 700), (380, 250), (900, 250)]  # top corners swapped
    with pytest.raises(CalibrationError) as err:
        calibration_from_points(image, GROUND)
    assert str(err.value) == (
        "cameras -> camera -> calibration: the points put part of the image beyond the "
        "horizon; check that each image point matches its ground point")


def test_unequal_point_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="4 image points but 5 ground points"):
        CalibrationSection(image=IMAGE, ground=[*GROUND, (5, 5)])


def test_points_above_the_horizon_map_to_nan() -> None:
    camera = PinholeCamera(small_scene())
    cal = calibration_from_points(*camera.calibration_points())
    sky, ground = cal.image_to_ground(np.array([[320.0, -2000.0], [320.0, 300.0]]))
    assert np.isnan(sky).all()
    assert not np.isnan(ground).any()


def test_a_metre_calibration_with_an_origin_and_bearing_is_on_the_map() -> None:
    lat0, lon0 = 21.4225, 39.8262
    cal = calibration_from_points(IMAGE, GROUND, origin=(lat0, lon0), bearing_deg=90.0)
    # +y points east: 20 m along it is 20 m east of the origin, same latitude.
    (lat, lon), = cal.to_latlon(np.array([[0.0, 20.0]]))
    assert lat == pytest.approx(lat0, abs=1e-9)
    assert (lon - lon0) * 111_320 * np.cos(np.radians(lat0)) == pytest.approx(20.0)
    assert cal.centre_latlon() is not None
    assert cal.ground_polygon(GROUND).tolist() == [list(p) for p in GROUND]  # still metres
    assert calibration_from_points(IMAGE, GROUND).centre_latlon() is None


def test_camera_incidents_get_the_zones_position(detector: Detector) -> None:
    settings = small_scene()
    plain = camera_for(settings)
    assert plain.calibration is not None
    anchored = plain.model_copy(update={"calibration": plain.calibration.model_copy(
        update={"origin": (21.4225, 39.8262), "bearing_deg": 0.0})})
    where = camera_location(Analyser(anchored, CamerasSection(), detector))
    assert where is not None
    # The zone's centre is 6.5 m north of the origin (ZONE spans y 4..9), x centred on 0.
    assert where["lat"] == pytest.approx(21.4225 + 6.5 / 111_320, abs=1e-6)
    assert where["lon"] == pytest.approx(39.8262, abs=1e-6)
    assert camera_location(Analyser(plain, CamerasSection(), detector)) is None


def test_calibrate_warns_without_a_geo_anchor_and_prints_it_with_one() -> None:
    points = [f"--point={u},{v}={x},{y}" for (u, v), (x, y) in zip(IMAGE, GROUND, strict=True)]
    bare = CliRunner().invoke(camera_cli, ["calibrate", *points])
    assert bare.exit_code == 0
    assert "has no geo-anchor" in bare.output
    anchored = CliRunner().invoke(camera_cli, ["calibrate", *points, "--origin",
                                               "21.4225,39.8262", "--bearing", "30"])
    assert "calibration.origin = [21.4225, 39.8262]" in anchored.output
    assert "calibration.bearing_deg = 30" in anchored.output
    assert "geo-anchor" not in anchored.output
    bad = CliRunner().invoke(camera_cli, ["calibrate", *points, "--origin", "121,3"])
    assert bad.exit_code == 1
    assert "origin [121.0, 3.0] is not a [lat, lon]" in bad.output
