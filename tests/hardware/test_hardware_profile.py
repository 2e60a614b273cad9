"""Truck profiles: the reference ones load, and every mistake is named."""

from __future__ import annotations

import pytest

from fieldkit.hardware.profile import ProfileError, load_profile, parse_profile, validate_profile
from tests.hardware.conftest import PROFILES

NAMES = ["ref-jetson", "ref-x86", "ref-x86-nvidia"]


def _data(name: str = "ref-x86") -> dict:
    return parse_profile((PROFILES / f"{name}.toml").read_text(), name)


@pytest.mark.parametrize("name", NAMES)
def test_reference_profiles_load(name):
    profile = load_profile(PROFILES / f"{name}.toml")
    assert profile.truck.name == name
    assert len(profile.cameras) == 4
    assert len(profile.drones) == 2
    assert profile.gps is not None
    assert profile.gps.gpsd_host == "127.0.0.1"
    assert profile.runtime_min >= profile.power.runtime_min_target
    assert profile.ingest_kbps == 4000 * 3 + 6000 + 2 * (6000 + 16)


def test_accelerators_of_the_reference_trucks():
    kinds = {n: load_profile(PROFILES / f"{n}.toml").compute for n in NAMES}
    assert {n: (c.arch, c.accelerator) for n, c in kinds.items()} == {
        "ref-jetson": ("aarch64", "jetson"), "ref-x86": ("x86_64", "none"),
        "ref-x86-nvidia": ("x86_64", "nvidia")}


def _error(data: dict) -> str:
    with pytest.raises(ProfileError) as info:
        validate_profile(data, "truck.toml")
    return str(info.value)


def test_unknown_key_is_refused():
    data = _data()
    data["compute"]["cores"] = 4
    assert _error(data) == "truck.toml: compute.cores: unknown key"


def test_short_calibration_is_refused():
    data = _data()
    data["cameras"][0]["calibration"] = data["cameras"][0]["calibration"][:3]
    assert _error(data) == "truck.toml: cameras -> mast-n: calibration needs at least 4 " \
        "points, got 3"


def test_calibration_pixel_outside_the_image():
    data = _data()
    data["cameras"][0]["calibration"][0]["pixel"] = [5000, 10]
    assert _error(data) == ("truck.toml: cameras -> mast-n: calibration pixel [5000.0, 10.0] "
                            "is outside the 1920x1080 image")


def test_bad_stream_scheme():
    data = _data()
    data["cameras"][1]["url"] = "ftp://192.168.50.12/x"
    assert _error(data) == "truck.toml: cameras -> mast-e: url scheme 'ftp' is not one of " \
        "rtsp, http, https"


def test_duplicate_camera_names():
    data = _data()
    data["cameras"][1]["name"] = "mast-n"
    assert _error(data) == "truck.toml: cameras: mast-n listed more than once"


def test_load_over_the_ups_rating():
    data = _data()
    data["compute"]["power_w"] = 990
    assert _error(data) == "truck.toml: power: the loads total 1065 W, more than the UPS " \
        "rating of 1000 W"


def test_battery_short_of_the_runtime_target():
    data = _data()
    data["power"]["runtime_min_target"] = 900
    assert _error(data) == ("truck.toml: power: 1150 Wh runs 115 W for 528 min, short of the "
                            "900 min target")


def test_missing_section_and_bad_value_together():
    data = _data()
    del data["power"]
    data["compute"]["arch"] = "sparc"
    assert _error(data) == ("truck.toml: compute.arch: 'sparc' is invalid: Input should be "
                            "'x86_64' or 'aarch64'; power: missing, a value is required")


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(ProfileError, match=r"cannot read profile .*nope.toml: "):
        load_profile(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[truck\n")
    with pytest.raises(ProfileError, match=r"bad.toml: not valid TOML: "):
        load_profile(bad)


def test_public_names_exist():
    import fieldkit.hardware

    assert sorted(fieldkit.hardware.__all__) == fieldkit.hardware.__all__
    for name in fieldkit.hardware.__all__:
        assert getattr(fieldkit.hardware, name) is not None
