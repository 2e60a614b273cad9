"""`fieldkit hardware check`: hold this machine against a truck profile.

Each item (CPU, memory, disk, temperatures, accelerator, GPS, every camera, time sync,
power) gets one :class:`CheckResult`: ``pass``, ``fail`` or ``absent`` (the machine has no
such sensor: a result, never a crash), with the reason. Network checks are short: a TCP
connect (RTSP, gpsd) or an HTTP HEAD with a timeout of a few seconds, all concurrent.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from fieldkit.hardware.gpsd import GpsdClient, GpsdError, os_reason, parse_tpv
from fieldkit.hardware.profile import CameraPart, Profile
from fieldkit.hardware.sensors import read_clock, read_memory_gb, read_power, read_temperatures

ITEMS = ("cpu", "memory", "disk", "temperature", "accelerator", "gps", "cameras", "time",
         "power")


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    FAIL = "fail"
    ABSENT = "absent"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict on one item."""

    item: str
    """e.g. ``cpu``, ``camera mast-n``."""
    outcome: Outcome
    """pass, fail or absent (not present on this machine)."""
    reason: str
    """What was found, in a sentence."""

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "outcome": self.outcome.value}


@dataclass(frozen=True, slots=True)
class Machine:
    """Where to look; tests point these at files they made."""

    sys_root: Path = Path("/sys")
    proc_root: Path = Path("/proc")
    disk_path: Path = Path("/")
    dev_root: Path = Path("/dev")
    timeout_s: float = 3.0


def _ok(item: str, good: bool, reason: str) -> CheckResult:
    return CheckResult(item, Outcome.PASS if good else Outcome.FAIL, reason)


def check_cpu(profile: Profile) -> CheckResult:
    cores, arch = os.cpu_count() or 0, platform.machine()
    want = profile.compute
    if arch != want.arch:
        return _ok("cpu", False, f"architecture {arch}, the profile needs {want.arch}")
    return _ok("cpu", cores >= want.cpu_cores_min,
               f"{cores} cores {arch} (profile: at least {want.cpu_cores_min})")


def check_memory(profile: Profile, machine: Machine) -> CheckResult:
    total = read_memory_gb(machine.proc_root)
    if total is None:
        return CheckResult("memory", Outcome.ABSENT, "no /proc/meminfo to read")
    want = profile.compute.memory_gb_min
    return _ok("memory", total >= want * 0.95,  # firmware reserves a little
               f"{total:.1f} GB (profile: at least {want:g} GB)")


def check_disk(profile: Profile, machine: Machine) -> CheckResult:
    try:
        usage = shutil.disk_usage(machine.disk_path)
    except OSError as exc:
        return CheckResult("disk", Outcome.ABSENT, f"{machine.disk_path}: {exc.strerror}")
    free, want = usage.free / 1e9, profile.compute.disk_free_gb_min
    return _ok("disk", free >= want, f"{free:.0f} GB free of {usage.total / 1e9:.0f} GB at "
               f"{machine.disk_path} (profile: at least {want:g} GB)")


def check_temperature(profile: Profile, machine: Machine) -> CheckResult:
    temps = read_temperatures(machine.sys_root)
    if not temps:
        return CheckResult("temperature", Outcome.ABSENT, "no thermal sensors on this machine")
    hottest = max(temps, key=lambda t: t.celsius)
    limit = profile.compute.temp_max_c
    return _ok("temperature", hottest.celsius <= limit,
               f"hottest {hottest.sensor} {hottest.celsius:.0f} °C of {len(temps)} sensors "
               f"(limit {limit:g} °C)")


def check_accelerator(profile: Profile, machine: Machine) -> CheckResult:
    kind = profile.compute.accelerator
    if kind == "none":
        return CheckResult("accelerator", Outcome.PASS, "none needed (CPU inference)")
    if kind == "nvidia":
        found = (machine.dev_root / "nvidia0").exists()
        return _ok("accelerator", found, "NVIDIA GPU at /dev/nvidia0" if found else
                   "no NVIDIA GPU: /dev/nvidia0 missing (driver not loaded or no card)")
    found = (machine.sys_root / "module" / "tegra_fuse").exists() or \
        Path("/etc/nv_tegra_release").exists()
    return _ok("accelerator", found, "Jetson (Tegra) platform" if found else
               "not a Jetson: no Tegra platform found")


async def check_gps(profile: Profile, machine: Machine) -> CheckResult:
    if profile.gps is None:
        return CheckResult("gps", Outcome.ABSENT, "the profile has no GPS receiver")
    host, port = profile.gps.gpsd_host, profile.gps.gpsd_port
    try:
        client = await GpsdClient.connect(host, port, machine.timeout_s)
    except GpsdError as exc:
        return _ok("gps", False, str(exc))
    seen_device, mode = False, 0
    deadline = time.monotonic() + machine.timeout_s
    try:
        async with client:
            while (left := deadline - time.monotonic()) > 0:
                async with asyncio.timeout(left):
                    report = await client.report()
                if report["class"] == "DEVICES":
                    seen_device = bool(report.get("devices"))
                elif report["class"] == "TPV":
                    seen_device = True
                    mode = max(mode, int(report.get("mode") or 0))
                    fix = parse_tpv(report, 0)
                    if fix is not None:
                        err = f" ±{fix.eph_m:.0f} m" if fix.eph_m is not None else ""
                        return _ok("gps", True, f"{fix.mode}D fix {fix.lat:.5f}, {fix.lon:.5f}"
                                   f"{err} from {fix.device or 'gpsd'}")
    except (GpsdError, TimeoutError) as exc:
        if not isinstance(exc, TimeoutError):
            return _ok("gps", False, str(exc))
    if not seen_device:
        return _ok("gps", False, f"gpsd at {host}:{port} has no receiver (is {profile.gps.device}"
                   " plugged in?)")
    return _ok("gps", False, f"no fix within {machine.timeout_s:g} s (mode {mode})")


async def check_camera(camera: CameraPart, machine: Machine) -> CheckResult:
    item = f"camera {camera.name}"
    url = urlsplit(camera.url)
    if url.scheme in ("http", "https"):
        return await _head(item, camera.url, machine.timeout_s)
    if url.scheme == "rtsp":
        return await _connect(item, url.hostname or "", url.port or 554, machine.timeout_s)
    path = Path(camera.url)
    return _ok(item, path.exists(), f"{path} {'present' if path.exists() else 'missing'}")


async def _connect(item: str, host: str, port: int, timeout_s: float) -> CheckResult:
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return _ok(item, False, f"{host}:{port}: no answer in {timeout_s:g} s")
    except OSError as exc:
        return _ok(item, False, f"{host}:{port}: {os_reason(exc)}")
    writer.close()
    return _ok(item, True, f"{host}:{port} accepts connections "
               f"({(time.monotonic() - started) * 1000:.0f} ms)")


async def _head(item: str, url: str, timeout_s: float) -> CheckResult:
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.head(url, allow_redirects=False) as response:
            status = response.status
    except TimeoutError:
        return _ok(item, False, f"{url}: no answer in {timeout_s:g} s")
    except aiohttp.ClientError as exc:
        return _ok(item, False, f"{url}: {exc}")
    # 401/405: a camera that wants credentials or refuses HEAD is still there.
    return _ok(item, status < 400 or status in (401, 403, 405),
               f"{url}: HTTP {status}")


def check_time() -> CheckResult:
    clock = read_clock()
    if clock.synced is None:
        return CheckResult("time", Outcome.ABSENT, clock.detail)
    return _ok("time", clock.synced, f"{clock.detail} ({clock.source})")


def check_power(machine: Machine) -> CheckResult:
    power = read_power(machine.sys_root)
    if not power.present:
        return CheckResult("power", Outcome.ABSENT, power.detail)
    return _ok("power", not power.on_battery,
               ("ON BATTERY: " if power.on_battery else "") + power.detail)


async def run_checks(profile: Profile, machine: Machine | None = None,
                     skip: frozenset[str] = frozenset()) -> list[CheckResult]:
    """Every item not in ``skip``, in the order of :data:`ITEMS`."""
    m = machine or Machine()
    unknown = sorted(skip - set(ITEMS))
    if unknown:
        raise ValueError(f"cannot skip {', '.join(unknown)}: items are {', '.join(ITEMS)}")
    local: dict[str, CheckResult] = {}
    if "cpu" not in skip:
        local["cpu"] = check_cpu(profile)
    if "memory" not in skip:
        local["memory"] = check_memory(profile, m)
    if "disk" not in skip:
        local["disk"] = check_disk(profile, m)
    if "temperature" not in skip:
        local["temperature"] = check_temperature(profile, m)
    if "accelerator" not in skip:
        local["accelerator"] = check_accelerator(profile, m)
    remote: list[Awaitable[CheckResult]] = []
    if "gps" not in skip:
        remote.append(check_gps(profile, m))
    if "cameras" not in skip:
        remote += [check_camera(c, m) for c in profile.cameras]
    network = list(await asyncio.gather(*remote))
    results = list(local.values()) + network
    if "time" not in skip:
        results.append(await asyncio.to_thread(check_time))
    if "power" not in skip:
        results.append(check_power(m))
    return results


def format_results(results: list[CheckResult]) -> str:
    width = max((len(r.item) for r in results), default=4)
    lines = [f"{r.outcome.value.upper():<6} {r.item:<{width}}  {r.reason}" for r in results]
    counts = {o: sum(r.outcome is o for r in results) for o in Outcome}
    lines.append(f"summary: {counts[Outcome.PASS]} pass, {counts[Outcome.FAIL]} fail, "
                 f"{counts[Outcome.ABSENT]} not present")
    return "\n".join(lines)
