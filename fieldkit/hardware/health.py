"""Health incidents: the truck's own problems, raised once through the incident log.

Four rules: disk nearly full, overheating, on battery, clock unsynchronised (the hybrid
logical clock and MAVLink signing depend on a sane clock). A rule that becomes active
raises one incident through the alert mechanism (:mod:`fieldkit.alerts`, subject
``node``; source ``hardware``, kinds ``node_disk``, ``node_heat``, ``node_power`` and
``node_clock``, at the truck's position when known); a change of severity updates it;
when the condition clears, the incident is resolved with the reason. A restarted node
does not raise an open alert again. With the monitor on, it runs the sample retention
(:mod:`fieldkit.hardware.records`): once an hour, and at half the age right away when the
disk is nearly full.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from fieldkit.alerts import Alert, Change, clear, open_alerts, raise_or_update
from fieldkit.hardware.config import HardwareSection
from fieldkit.hardware.gpsd import Fix
from fieldkit.hardware.records import PRUNE_EVERY_S, PruneReport, prune_older_than
from fieldkit.hardware.sensors import (
    ClockState,
    PowerState,
    Temperature,
    read_clock,
    read_power,
    read_temperatures,
)
from fieldkit.log import IncidentLog
from fieldkit.tasks import cancel_and_wait, repeat
from fieldkit.vocabulary import IncidentKind, Source
from fieldkit.worker import LogWorker

logger = logging.getLogger(__name__)

#: The alert subject of the node's own hardware.
SUBJECT = "node"


@dataclass(frozen=True, slots=True)
class Readings:
    """One look at the machine."""

    disk_used_pct: float | None
    """Percent used of the node directory's filesystem (None: unreadable)."""
    disk_free_gb: float | None
    """GB free there."""
    temperatures: list[Temperature]
    """Every sensor found (none on many VMs)."""
    power: PowerState
    """Mains and battery."""
    clock: ClockState
    """Clock discipline."""

    @property
    def hottest(self) -> Temperature | None:
        return max(self.temperatures, key=lambda t: t.celsius, default=None)

    def to_json(self) -> dict[str, Any]:
        hottest = self.hottest
        return {
            "disk_used_pct": _round(self.disk_used_pct), "disk_free_gb": _round(self.disk_free_gb),
            "hottest": {"sensor": hottest.sensor, "celsius": hottest.celsius} if hottest else None,
            "power": {"present": self.power.present, "on_battery": self.power.on_battery,
                      "battery_pct": self.power.battery_pct, "detail": self.power.detail},
            "clock": {"synced": self.clock.synced, "source": self.clock.source,
                      "detail": self.clock.detail},
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def probe(node_dir: Path, sys_root: Path = Path("/sys")) -> Readings:
    """Read the disk, temperatures, power and clock (blocking: run in a thread)."""
    used_pct: float | None = None
    free_gb: float | None = None
    try:
        usage = shutil.disk_usage(node_dir)
        used_pct, free_gb = usage.used / usage.total * 100, usage.free / 1e9
    except OSError:
        pass  # no node directory yet: the disk rule is left out
    return Readings(used_pct, free_gb, read_temperatures(sys_root), read_power(sys_root),
                    read_clock())


@dataclass(frozen=True, slots=True)
class Condition:
    """The state of one rule."""

    rule: str
    """disk_full, overheating, on_battery or clock_unsynced."""
    kind: IncidentKind
    """Of the incident: node_disk, node_heat, node_power or node_clock."""
    active: bool
    """Whether the problem is there now."""
    severity: int
    """Of the incident while active."""
    title: str
    """Incident title."""
    detail: str
    """What was measured: the description, or the reason it cleared."""


def evaluate(readings: Readings, limits: HardwareSection) -> list[Condition]:
    """The four rules against ``readings``; a rule with nothing to read is left out."""
    found: list[Condition] = []
    if readings.disk_used_pct is not None:
        used, limit = readings.disk_used_pct, limits.disk_full_pct
        found.append(Condition(
            "disk_full", IncidentKind.NODE_DISK, used >= limit,
            4 if used >= (limit + 100) / 2 else 3, "Node disk nearly full",
            f"{used:.1f}% used, {readings.disk_free_gb:.1f} GB free (limit {limit:.0f}%)"))
    hottest = readings.hottest
    if hottest is not None:
        over = hottest.celsius - limits.temp_max_c
        found.append(Condition(
            "overheating", IncidentKind.NODE_HEAT, over > 0, 4 if over > 10 else 3,
            "Node overheating",
            f"{hottest.sensor} at {hottest.celsius:.0f} °C (limit {limits.temp_max_c:.0f} °C)"))
    if readings.power.present:
        pct = readings.power.battery_pct
        found.append(Condition(
            "on_battery", IncidentKind.NODE_POWER, readings.power.on_battery,
            4 if pct is not None and pct < 20 else 3, "Truck running on battery",
            readings.power.detail))
    if readings.clock.synced is not None:
        found.append(Condition(
            "clock_unsynced", IncidentKind.NODE_CLOCK, not readings.clock.synced, 2,
            "Node clock not synchronised",
            f"{readings.clock.detail} ({readings.clock.source}); event times and MAVLink "
            "signing depend on it"))
    return found


class HealthAlerts:
    """Applies conditions to the incident log; every method runs on the store thread."""

    def __init__(self, log: IncidentLog) -> None:
        self.log = log

    def open_alerts(self) -> dict[str, str]:
        """Rule -> incident id of every alert not yet cleared."""
        return {a.rule: a.incident for a in open_alerts(self.log.store, SUBJECT)}

    def apply(self, conditions: list[Condition], at: Fix | None = None) -> list[str]:
        """Raise, update or resolve; returns one line per change made."""
        location: dict[str, Any] | None = None
        if at is not None:
            # The latest fix may be old (gpsd lost the sky): the location says when.
            location = {"lat": at.lat, "lon": at.lon, "at_ms": at.received_ms}
            if at.eph_m is not None:
                location["accuracy_m"] = at.eph_m
        changes: list[str] = []
        for c in conditions:
            if not c.active:
                if clear(self.log, SUBJECT, c.rule, resolve=f"cleared: {c.detail}") is not None:
                    changes.append(f"cleared {c.rule}: {c.detail}")
                continue
            outcome = raise_or_update(self.log, Alert(
                SUBJECT, c.rule, c.title, c.kind, c.severity, Source.HARDWARE, c.detail,
                location))
            if outcome.change is Change.UPDATED:
                changes.append(f"updated {c.rule}: severity {c.severity}, {c.detail}")
            elif outcome.change is not Change.UNCHANGED:
                changes.append(f"raised {c.rule}: {c.detail}")
        return changes


class MonitorState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class HealthMonitor:
    """Checks health every ``limits.health_interval_s`` and keeps incidents in step.

    :param worker: the store thread.
    :param limits: thresholds and retention from the ``[hardware]`` config.
    :param node_dir: whose filesystem is watched.
    :param position: returns the truck's latest fix (or None), to place incidents.
    :param read: the probe; tests pass their own readings.
    """

    def __init__(self, worker: LogWorker, limits: HardwareSection, node_dir: Path,
                 position: Callable[[], Fix | None] = lambda: None,
                 read: Callable[[], Readings] | None = None) -> None:
        self.worker = worker
        self.limits = limits
        self.state = MonitorState.NEW
        self.last: Readings | None = None
        self.last_prune: PruneReport | None = None
        self._alerts = HealthAlerts(worker.log)
        self._position = position
        self._read = read or (lambda: probe(node_dir))
        self._pruned_at = float("-inf")
        self._task: asyncio.Task[None] | None = None

    def _set_state(self, state: MonitorState) -> None:
        logger.info("health monitor: %s -> %s", self.state, state)
        self.state = state

    async def start(self) -> None:
        if self.state is not MonitorState.NEW:
            raise RuntimeError(f"cannot start the health monitor in state {self.state}")
        self._set_state(MonitorState.RUNNING)
        self._task = asyncio.create_task(self._run(), name="health-monitor")

    async def stop(self) -> None:
        """Stop checking; safe to call twice."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self.state is not MonitorState.STOPPED:
            self._set_state(MonitorState.STOPPED)

    async def tick(self) -> list[str]:
        """One check: read, raise/update/resolve, prune when due. Returns the changes."""
        readings = await asyncio.to_thread(self._read)
        self.last = readings
        conditions = evaluate(readings, self.limits)
        changes = await self.worker.call(self._alerts.apply, conditions, self._position())
        for line in changes:
            logger.warning("health: %s", line)
        disk_full = any(c.rule == "disk_full" and c.active for c in conditions)
        if disk_full or time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            days = self.limits.retention_days / (2 if disk_full else 1)
            self.last_prune = await prune_older_than(self.worker, days)
        return changes

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state.value,
                "readings": self.last.to_json() if self.last else None,
                "pruned": self.last_prune.removed if self.last_prune else None}

    async def _run(self) -> None:
        await repeat(self.limits.health_interval_s, self.tick, "health check")
