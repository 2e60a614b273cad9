"""Drone alert rules: which conditions hold for a vehicle, and what to do about the
incident log when a condition appears, worsens or clears.

Pure logic over :class:`~drone.state.TelemetrySample`: no I/O, so it is tested with
plain samples. Each condition is raised once per episode (one open alert per vehicle and
rule); it is escalated when it worsens (battery low -> critical) and resolved when it
clears. A rule whose input is stale (:func:`stale_fields`) judges nothing: an old battery
level neither raises nor clears the battery alert, and an old position neither enters nor
leaves a geofence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from drone.config import DronesSection, GeofenceSection
from drone.state import FIELD_GROUPS, TelemetrySample

#: A battery alert clears only this many percent above the low threshold (hysteresis).
BATTERY_CLEAR_MARGIN_PCT = 5
LINK_LOST = "link_lost"
BATTERY = "battery"
GPS_LOST = "gps_lost"
GEOFENCE = "geofence:"


@dataclass(frozen=True, slots=True)
class Condition:
    """A problem that holds now for one vehicle."""

    rule: str
    """link_lost, battery, gps_lost or geofence:NAME."""
    severity: int
    title: str
    detail: str


class Action(StrEnum):
    RAISE = "raise"
    ESCALATE = "escalate"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class AlertAction:
    """One change to make in the incident log."""

    action: Action
    vehicle: str
    rule: str
    severity: int
    title: str
    detail: str
    location: dict[str, Any] | None
    """Last known position of the vehicle, as an incident location."""
    incident: str | None = None
    """The open incident (escalate, clear)."""


@dataclass
class OpenAlert:
    incident: str
    severity: int


def location_of(sample: TelemetrySample) -> dict[str, Any] | None:
    if sample.lat is None or sample.lon is None:
        return None
    location: dict[str, Any] = {"lat": round(sample.lat, 7), "lon": round(sample.lon, 7)}
    if sample.gps_accuracy_m is not None:
        location["accuracy_m"] = min(sample.gps_accuracy_m, 100_000.0)
    if sample.position_age_s is not None:  # a lost drone's position may be long gone
        location["at_ms"] = max(0, round((sample.at - sample.position_age_s) * 1000))
    return location


def stale_fields(s: TelemetrySample, settings: DronesSection) -> list[str]:
    """The field groups of ``s`` older than their threshold: ``heartbeat`` (mode, armed,
    autopilot) after ``link_lost_s``, the others (:data:`~drone.state.FIELD_GROUPS`)
    after ``stale.GROUP_s``."""
    stale = []
    if s.heartbeat_age_s is not None and s.heartbeat_age_s > settings.link_lost_s:
        stale.append("heartbeat")
    for group in FIELD_GROUPS:
        age: float | None = getattr(s, f"{group}_age_s")
        if age is not None and age > getattr(settings.stale, f"{group}_s"):
            stale.append(group)
    return stale


def age_text(seconds: float) -> str:
    """An age for people: 6 s, 31 min, 2.5 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def inside(polygon: Sequence[tuple[float, float]], lat: float, lon: float) -> bool:
    """Even-odd ray casting on (lat, lon): exact enough for areas of a few km."""
    hit = False
    j = len(polygon) - 1
    for i in range(len(polygon)):
        (lat_i, lon_i), (lat_j, lon_j) = polygon[i], polygon[j]
        if (lat_i > lat) != (lat_j > lat):
            cross = lon_i + (lat - lat_i) * (lon_j - lon_i) / (lat_j - lat_i)
            if lon < cross:
                hit = not hit
        j = i
    return hit


def _where(s: TelemetrySample) -> str:
    """The position with its age: on a lost link it is never the vehicle's position now."""
    if not s.has_position:
        return "position unknown"
    alt = f", {s.alt_rel_m:.0f} m above home" if s.alt_rel_m is not None else ""
    age = "" if s.position_age_s is None else f" {age_text(s.position_age_s)} ago"
    return f"last position{age} at {s.lat:.6f}, {s.lon:.6f}{alt}"


@dataclass
class _Memory:
    session: int = 1
    """The vehicle session the rest describes (a rebooted autopilot starts afresh)."""
    no_fix_since: float | None = None
    had_fix: bool = False


@dataclass
class AlertRules:
    """Evaluates conditions; remembers what it needs across samples (GPS debounce)."""

    settings: DronesSection
    _memory: dict[str, _Memory] = field(default_factory=dict)

    def conditions(self, s: TelemetrySample, now: float,
                   stale: Sequence[str] = ()) -> dict[str, Condition]:
        """Conditions that hold, judged only on fields not in ``stale``."""
        cfg = self.settings
        mem = self._memory.get(s.vehicle)
        if mem is None or mem.session != s.session:
            # A new session (rebooted or replaced autopilot) has not had a fix yet: the old
            # one's fix must not make its first minutes on the ground a "GPS lost".
            mem = self._memory[s.vehicle] = _Memory(s.session)
        found: dict[str, Condition] = {}
        name = f"Drone {s.vehicle}"
        armed = bool(s.armed)
        if s.heartbeat_age_s is not None and s.heartbeat_age_s > cfg.link_lost_s:
            found[LINK_LOST] = Condition(
                LINK_LOST, 4 if armed else 2, f"{name}: telemetry link lost",
                f"No heartbeat for {s.heartbeat_age_s:.0f} s on link {s.link} "
                f"({'armed' if armed else 'disarmed'} when last heard, mode {s.mode}); "
                f"{_where(s)}.")
        if s.battery_pct is not None and "battery" not in stale:
            low = s.battery_pct < cfg.battery_low_pct
            critical = s.battery_pct < cfg.battery_critical_pct
            if low:
                level = "critical" if critical else "low"
                found[BATTERY] = Condition(
                    BATTERY, 4 if critical else 3, f"{name}: battery {level}",
                    f"Battery at {s.battery_pct:.0f}%"
                    + (f" ({s.battery_v:.1f} V)" if s.battery_v is not None else "")
                    + f"; {_where(s)}.")
        if "gps" not in stale:
            self._gps(s, now, mem, found, name)
        if s.lat is not None and s.lon is not None and "position" not in stale:
            for fence in cfg.geofences:
                if inside(fence.polygon, s.lat, s.lon):
                    found[GEOFENCE + fence.name] = self._breach(s, fence, name)
        return found

    def _gps(self, s: TelemetrySample, now: float, mem: _Memory,
             found: dict[str, Condition], name: str) -> None:
        if s.gps_fix is None:
            return
        if s.gps_fix >= 3:
            mem.had_fix, mem.no_fix_since = True, None
            return
        if mem.no_fix_since is None:
            mem.no_fix_since = now
        lasting = now - mem.no_fix_since
        if lasting >= self.settings.gps_lost_s and (mem.had_fix or s.armed):
            found[GPS_LOST] = Condition(
                GPS_LOST, 4 if s.armed else 2, f"{name}: GPS lost",
                f"No 3D fix for {lasting:.0f} s (fix type {s.gps_fix}, "
                f"{s.satellites if s.satellites is not None else '?'} satellites); "
                f"{_where(s)}.")

    @staticmethod
    def _breach(s: TelemetrySample, fence: GeofenceSection, name: str) -> Condition:
        return Condition(GEOFENCE + fence.name, fence.severity,
                         f"{name}: inside no-fly area {fence.name}",
                         f"Entered geofence {fence.name!r}; {_where(s)}.")


@dataclass
class AlertBook:
    """Open alerts, and the actions that bring the incident log in line with the
    conditions of each new batch of samples."""

    rules: AlertRules
    open: dict[tuple[str, str], OpenAlert] = field(default_factory=dict)

    def step(self, samples: Iterable[TelemetrySample], now: float) -> list[AlertAction]:
        actions: list[AlertAction] = []
        for s in samples:
            stale = stale_fields(s, self.rules.settings)
            held = self.rules.conditions(s, now, stale)
            unknown = {rule for rule, group in _INPUTS.items() if group in stale}
            where = location_of(s)
            for rule, c in held.items():
                alert = self.open.get((s.vehicle, rule))
                if alert is None:
                    actions.append(AlertAction(Action.RAISE, s.vehicle, rule, c.severity,
                                               c.title, c.detail, where))
                elif c.severity > alert.severity:
                    actions.append(AlertAction(Action.ESCALATE, s.vehicle, rule, c.severity,
                                               c.title, c.detail, where, alert.incident))
            for (vehicle, rule), alert in list(self.open.items()):
                if vehicle != s.vehicle or rule in held:
                    continue
                if rule in unknown or (rule.startswith(GEOFENCE) and "position" in stale):
                    continue  # its input is stale: the condition is unknown, not cleared
                if rule == BATTERY and s.battery_pct is not None and s.battery_pct < (
                        self.rules.settings.battery_low_pct + BATTERY_CLEAR_MARGIN_PCT):
                    continue  # hysteresis: a battery hovering at the threshold stays raised
                actions.append(AlertAction(
                    Action.CLEAR, vehicle, rule, alert.severity, "", _cleared(rule, s),
                    where, alert.incident))
        return actions

    def done(self, action: AlertAction, incident: str | None) -> None:
        """Record that ``action`` was carried out (``incident``: the raised one's id)."""
        key = (action.vehicle, action.rule)
        if action.action is Action.RAISE and incident is not None:
            self.open[key] = OpenAlert(incident, action.severity)
        elif action.action is Action.ESCALATE and key in self.open:
            self.open[key].severity = action.severity
        elif action.action is Action.CLEAR:
            self.open.pop(key, None)


#: Rule -> the field group it judges (geofences: position, by prefix).
_INPUTS = {BATTERY: "battery", GPS_LOST: "gps"}


def _cleared(rule: str, s: TelemetrySample) -> str:
    if rule == LINK_LOST:
        return f"Cleared: heartbeats are back on link {s.link}; {_where(s)}."
    if rule == BATTERY:
        return f"Cleared: battery at {s.battery_pct:.0f}%."
    if rule == GPS_LOST:
        return f"Cleared: GPS fix type {s.gps_fix} again; {_where(s)}."
    return f"Cleared: left {rule.removeprefix(GEOFENCE)}; {_where(s)}."
