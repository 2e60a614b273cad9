"""`fieldkit hardware check`: sensors read from real files laid out like /sys and /proc,
cameras reached on servers started here on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import platform
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner

from fieldkit.cli import main
from fieldkit.hardware.checks import (
    CheckResult,
    Machine,
    Outcome,
    check_camera,
    check_memory,
    check_power,
    check_temperature,
    run_checks,
)
from fieldkit.hardware.profile import CameraPart, load_profile
from fieldkit.hardware.sensors import read_power, read_temperatures
from tests.hardware.conftest import PROFILES, free_port

PROFILE = PROFILES / "ref-x86.toml"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    """A /sys with a CPU package sensor, an NVMe hwmon, mains offline and a discharging
    UPS battery (as the kernel's HID UPS driver shows it)."""
    root = tmp_path / "sys"
    write(root / "class/thermal/thermal_zone0/type", "x86_pkg_temp")
    write(root / "class/thermal/thermal_zone0/temp", "97000")
    write(root / "class/hwmon/hwmon1/name", "nvme")
    write(root / "class/hwmon/hwmon1/temp1_input", "48850")
    write(root / "class/hwmon/hwmon1/temp1_label", "Composite")
    write(root / "class/power_supply/AC/type", "Mains")
    write(root / "class/power_supply/AC/online", "0")
    write(root / "class/power_supply/hid-ups/type", "Battery")
    write(root / "class/power_supply/hid-ups/status", "Discharging")
    write(root / "class/power_supply/hid-ups/capacity", "63")
    return root


def test_sensors_read_from_sysfs(sysfs):
    temps = read_temperatures(sysfs)
    assert [(t.sensor, t.celsius) for t in temps] == [
        ("thermal_zone0 (x86_pkg_temp)", 97.0), ("nvme Composite", 48.85)]
    power = read_power(sysfs)
    assert (power.present, power.on_battery, power.battery_pct) == (True, True, 63.0)
    assert power.detail == "mains offline, hid-ups discharging 63%"


def test_hot_machine_on_battery_fails_with_reasons(sysfs):
    profile = load_profile(PROFILE)
    machine = Machine(sys_root=sysfs)
    assert check_temperature(profile, machine) == CheckResult(
        "temperature", Outcome.FAIL,
        "hottest thermal_zone0 (x86_pkg_temp) 97 °C of 2 sensors (limit 90 °C)")
    assert check_power(machine) == CheckResult(
        "power", Outcome.FAIL, "ON BATTERY: mains offline, hid-ups discharging 63%")


def test_missing_sensors_are_not_present_not_a_crash(tmp_path):
    profile = load_profile(PROFILE)
    machine = Machine(sys_root=tmp_path / "empty", proc_root=tmp_path / "empty")
    assert check_temperature(profile, machine) == CheckResult(
        "temperature", Outcome.ABSENT, "no thermal sensors on this machine")
    assert check_power(machine) == CheckResult(
        "power", Outcome.ABSENT, "no mains adapter, battery or UPS reported")
    assert check_memory(profile, machine) == CheckResult(
        "memory", Outcome.ABSENT, "no /proc/meminfo to read")


def test_memory_against_the_profile(tmp_path):
    profile = load_profile(PROFILE)  # at least 16 GB
    write(tmp_path / "meminfo", "MemTotal:        8000000 kB\nMemFree: 1 kB")
    result = check_memory(profile, Machine(proc_root=tmp_path))
    assert result == CheckResult("memory", Outcome.FAIL,
                                 "8.2 GB (profile: at least 16 GB)")


def _camera(name: str, url: str) -> CameraPart:
    return CameraPart(name=name, url=url, mount_height_m=6)


async def _http_camera(status: int) -> tuple[web.AppRunner, int]:
    async def video(request: web.Request) -> web.Response:
        return web.Response(status=status)

    app = web.Application()
    app.router.add_route("*", "/mjpg/video.mjpg", video)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


async def test_cameras_reachable_and_not():
    ok_runner, ok_port = await _http_camera(200)
    auth_runner, auth_port = await _http_camera(401)
    bad_runner, bad_port = await _http_camera(404)
    rtsp = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    rtsp_port = rtsp.sockets[0].getsockname()[1]
    closed = free_port()
    machine = Machine(timeout_s=2)
    try:
        results = await asyncio.gather(
            check_camera(_camera("http-ok", f"http://127.0.0.1:{ok_port}/mjpg/video.mjpg"),
                         machine),
            check_camera(_camera("http-auth", f"http://127.0.0.1:{auth_port}/mjpg/video.mjpg"),
                         machine),
            check_camera(_camera("http-404", f"http://127.0.0.1:{bad_port}/mjpg/video.mjpg"),
                         machine),
            check_camera(_camera("rtsp-ok", f"rtsp://127.0.0.1:{rtsp_port}/stream1"), machine),
            check_camera(_camera("rtsp-off", f"rtsp://127.0.0.1:{closed}/stream1"), machine),
            check_camera(_camera("usb", "/dev/video97"), machine),
        )
    finally:
        rtsp.close()
        for runner in (ok_runner, auth_runner, bad_runner):
            await runner.cleanup()
    by_name = {r.item: r for r in results}
    assert by_name["camera http-ok"].outcome is Outcome.PASS
    assert by_name["camera http-ok"].reason.endswith("HTTP 200")
    assert by_name["camera http-auth"].outcome is Outcome.PASS  # there, wants credentials
    assert by_name["camera http-404"] == CheckResult(
        "camera http-404", Outcome.FAIL,
        f"http://127.0.0.1:{bad_port}/mjpg/video.mjpg: HTTP 404")
    assert by_name["camera rtsp-ok"].outcome is Outcome.PASS
    assert by_name["camera rtsp-ok"].reason.startswith(
        f"127.0.0.1:{rtsp_port} accepts connections")
    assert by_name["camera rtsp-off"] == CheckResult(
        "camera rtsp-off", Outcome.FAIL, f"127.0.0.1:{closed}: Connection refused")
    assert by_name["camera usb"] == CheckResult(
        "camera usb", Outcome.FAIL, "/dev/video97 missing")


async def test_run_checks_orders_items_and_refuses_unknown_skips(sysfs):
    profile = load_profile(PROFILE)
    results = await run_checks(profile, Machine(sys_root=sysfs),
                               skip=frozenset({"gps", "cameras"}))
    assert [r.item for r in results] == ["cpu", "memory", "disk", "temperature", "accelerator",
                                         "time", "power"]
    with pytest.raises(ValueError, match="cannot skip wheels: items are cpu, memory"):
        await run_checks(profile, skip=frozenset({"wheels"}))


def _local_profile(tmp_path: Path, gpsd_port: int, camera_url: str) -> Path:
    """The reference profile with this machine's architecture, its cameras replaced by one
    on 127.0.0.1 and gpsd on a closed port."""
    text = PROFILE.read_text()
    head, _, _ = text.partition("# Four mast cameras")
    _, _, tail = text.partition("[[radios]]")
    head = head.replace('arch = "x86_64"', f'arch = "{platform.machine()}"')
    camera = f'[[cameras]]\nname = "cab"\nurl = "{camera_url}"\nmount_height_m = 3.5\n\n'
    tail = tail.replace("gpsd_port = 2947", f"gpsd_port = {gpsd_port}")
    path = tmp_path / "local.toml"
    path.write_text(head + camera + "[[radios]]" + tail)
    return path


def test_cli_check_reports_every_item_and_exits_1_on_failure(tmp_path):
    closed = free_port()
    profile = _local_profile(tmp_path, closed, f"rtsp://127.0.0.1:{closed}/s")
    result = CliRunner().invoke(main, ["hardware", "check", str(profile), "--timeout", "2",
                                       "--skip", "time"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("ref-x86: ASUS NUC 13 Pro")
    assert f"FAIL   gps          gpsd not reachable at 127.0.0.1:{closed}: Connection refused" \
        in lines
    assert f"FAIL   camera cab   127.0.0.1:{closed}: Connection refused" in lines
    assert lines[-1].startswith("summary: ")

    as_json = CliRunner().invoke(main, ["hardware", "check", str(profile), "--json",
                                        "--timeout", "2", "--skip", "gps", "--skip", "cameras",
                                        "--skip", "time", "--skip", "temperature",
                                        "--skip", "power", "--skip", "disk", "--skip", "cpu",
                                        "--skip", "memory"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == [
        {"item": "accelerator", "outcome": "pass", "reason": "none needed (CPU inference)"}]


def test_cli_check_refuses_a_bad_profile(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[truck]\nname = "x"\n')
    result = CliRunner().invoke(main, ["hardware", "check", str(bad)])
    assert result.exit_code == 1
    assert result.output == (f"Error: {bad}: compute: missing, a value is required; "
                             "power: missing, a value is required\n")


def test_cli_budget():
    result = CliRunner().invoke(main, ["hardware", "budget", str(PROFILES / "ref-jetson.toml")])
    assert result.exit_code == 0, result.output
    assert "  total             120.0  of 1000 W UPS" in result.output
    assert "  ingest (LAN)      30032  (4 cameras, 2 drones)" in result.output
