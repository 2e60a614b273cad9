"""Reading the machine: temperatures, power supply, memory, clock synchronisation.

Every reader returns what it found, or says nothing is there: a box without thermal
sensors, a battery or chrony is a normal truck, never an exception. Roots are
parameters (``/sys``, ``/proc``) so tests feed real files laid out in a temp dir.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

SYS = Path("/sys")
PROC = Path("/proc")
_TIME_ERROR = 5  # adjtimex(2) clock state: "clock not synchronized"
_STA_UNSYNC = 0x0040


@dataclass(frozen=True, slots=True)
class Temperature:
    """One temperature sensor."""

    sensor: str
    """Where it was read, e.g. ``thermal_zone0 (x86_pkg_temp)``."""
    celsius: float
    """Degrees Celsius."""


@dataclass(frozen=True, slots=True)
class PowerState:
    """The power supply as the kernel sees it (``/sys/class/power_supply``)."""

    present: bool
    """Whether any mains adapter, battery or UPS is reported at all."""
    on_battery: bool
    """Mains reported offline and a battery discharging (or no mains online)."""
    battery_pct: float | None
    """Lowest battery capacity reported, percent."""
    detail: str
    """A sentence for the operator."""


@dataclass(frozen=True, slots=True)
class ClockState:
    """Whether the system clock is disciplined by NTP/chrony/GPS."""

    synced: bool | None
    """True or False, or None when no source could tell."""
    source: str
    """timedatectl, chronyc, adjtimex or none."""
    detail: str
    """A sentence for the operator."""


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def read_temperatures(sys_root: Path = SYS) -> list[Temperature]:
    """Every thermal zone and hwmon temperature input; empty when there are none."""
    found: list[Temperature] = []
    for zone in sorted((sys_root / "class" / "thermal").glob("thermal_zone*")):
        raw, kind = _read(zone / "temp"), _read(zone / "type") or "?"
        if raw is not None and raw.lstrip("-").isdigit():
            found.append(Temperature(f"{zone.name} ({kind})", int(raw) / 1000))
    for hwmon in sorted((sys_root / "class" / "hwmon").glob("hwmon*")):
        chip = _read(hwmon / "name") or hwmon.name
        for inp in sorted(hwmon.glob("temp*_input")):
            raw = _read(inp)
            if raw is not None and raw.lstrip("-").isdigit():
                label = _read(hwmon / inp.name.replace("_input", "_label")) or inp.name
                found.append(Temperature(f"{chip} {label}", int(raw) / 1000))
    return found


def read_power(sys_root: Path = SYS) -> PowerState:
    """Mains and battery from ``/sys/class/power_supply`` (a USB UPS with the kernel's
    HID driver appears there as a battery too)."""
    supplies = sorted((sys_root / "class" / "power_supply").glob("*"))
    mains: list[bool] = []
    batteries: list[tuple[str, str, float | None]] = []
    for supply in supplies:
        kind = _read(supply / "type")
        if kind in ("Mains", "USB"):
            mains.append(_read(supply / "online") == "1")
        elif kind in ("Battery", "UPS"):
            cap = _read(supply / "capacity")
            pct = float(cap) if cap is not None and cap.isdigit() else None
            batteries.append((supply.name, _read(supply / "status") or "Unknown", pct))
    if not mains and not batteries:
        return PowerState(False, False, None, "no mains adapter, battery or UPS reported")
    discharging = any(status == "Discharging" for _, status, _ in batteries)
    on_battery = (bool(mains) and not any(mains)) or (not mains and discharging)
    levels = [pct for _, _, pct in batteries if pct is not None]
    lowest = min(levels) if levels else None
    parts = [f"mains {'online' if any(mains) else 'offline'}"] if mains else []
    parts += [f"{name} {status.lower()}" + (f" {pct:.0f}%" if pct is not None else "")
              for name, status, pct in batteries]
    return PowerState(True, on_battery, lowest, ", ".join(parts))


def read_memory_gb(proc_root: Path = PROC) -> float | None:
    """Total memory from ``/proc/meminfo``, GB (10^9 bytes); None if unreadable."""
    text = _read(proc_root / "meminfo") or ""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024 / 1e9
    return None


def read_clock(timeout_s: float = 2.0) -> ClockState:
    """Ask timedatectl, then chronyc, then the kernel (adjtimex) whether the clock is
    synchronised; the first that answers decides."""
    for reader in (_clock_timedatectl, _clock_chrony):
        state = reader(timeout_s)
        if state is not None:
            return state
    return _clock_adjtimex()


def _run(argv: list[str], timeout_s: float) -> str | None:
    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, *argv[1:]], capture_output=True, text=True,  # noqa: S603
                              timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.debug("%s failed: %s", argv[0], exc)
        return None
    return done.stdout if done.returncode == 0 else None


def _clock_timedatectl(timeout_s: float) -> ClockState | None:
    out = _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], timeout_s)
    if out is None or out.strip() not in ("yes", "no"):
        return None
    synced = out.strip() == "yes"
    return ClockState(synced, "timedatectl",
                      "NTP synchronised" if synced else "systemd reports NTPSynchronized=no")


def _clock_chrony(timeout_s: float) -> ClockState | None:
    out = _run(["chronyc", "-n", "tracking"], timeout_s)
    if out is None:
        return None
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    status = fields.get("Leap status ", fields.get("Leap status", "")).strip()
    ref = fields.get("Reference ID    ", "").strip()
    synced = status == "Normal"
    return ClockState(synced, "chronyc", f"chrony leap status {status or '?'} {ref}".strip())


def _clock_adjtimex() -> ClockState:
    """The kernel's own view: adjtimex(2) in read-only mode (modes = 0)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6", use_errno=True)
        adjtimex = libc.adjtimex
    except (OSError, AttributeError):
        return ClockState(None, "none", "no timedatectl, chronyc or adjtimex on this system")
    buf = ctypes.create_string_buffer(512)  # struct timex is 208 bytes on 64-bit Linux
    state = adjtimex(buf)
    if state < 0:
        return ClockState(None, "adjtimex", f"adjtimex failed (errno {ctypes.get_errno()})")
    maxerror_us = int.from_bytes(buf.raw[24:32], "little", signed=True)
    status = int.from_bytes(buf.raw[40:44], "little", signed=True)
    synced = state != _TIME_ERROR and not status & _STA_UNSYNC
    detail = (f"kernel clock synchronised (max error {maxerror_us / 1000:.0f} ms)" if synced
              else "kernel clock not synchronised (no NTP/chrony/GPS discipline)")
    return ClockState(synced, "adjtimex", detail)
