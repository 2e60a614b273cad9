"""Rules: which situations hold on a camera, with dwell times and hysteresis, and what
to write in the incident log when one appears, worsens or clears.

:func:`conditions` is pure logic over zone states and tracks; :class:`RuleEngine` adds
time (a condition must hold ``dwell_s`` to raise and be gone ``clear_s`` to clear);
:func:`apply_actions` writes incidents through the alert mechanism
(:mod:`fieldkit.alerts`, subject ``camera:NAME``, one open alert per camera and rule, so a
situation that returns is updated, never duplicated) with a snapshot.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fieldkit import alerts
from fieldkit.analytics.config import RulesSection
from fieldkit.analytics.estimate import band_text, method_name
from fieldkit.analytics.tracker import Track
from fieldkit.analytics.zones import Zone, ZoneState
from fieldkit.errors import FieldkitError
from fieldkit.log import IncidentLog
from fieldkit.vocabulary import LinkTarget, Source

logger = logging.getLogger(__name__)

FAST_M_S = 1.5
_RESTORED = "restored"  # kind of a placeholder for an alert found open at start


@dataclass(frozen=True, slots=True)
class Condition:
    """A situation that holds now."""

    rule: str
    """density:ZONE, uncertain:ZONE, capacity:ZONE, counter_flow:ZONE, speed:ZONE,
    person_down:ZONE or fault:KIND."""
    kind: str
    """Incident kind."""
    severity: int
    title: str
    detail: str
    zone: str | None = None
    hold_s: float | None = None
    """Dwell time of this rule (None: the configured default)."""


class Action(StrEnum):
    RAISE = "raise"
    UPDATE = "update"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class AlertAction:
    """One change to make in the incident log."""

    action: Action
    camera: str
    condition: Condition
    """For CLEAR: the last condition seen before it cleared."""
    suggestion: str = ""
    """For CLEAR: what the crew may do now."""


class SpeedBaseline:
    """Slow running mean of a zone's flow speed: what "sudden" is measured against."""

    def __init__(self, span_s: float = 30.0) -> None:
        self.span_s = span_s
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, t: float, speed: float) -> None:
        self._samples.append((t, speed))
        while self._samples and t - self._samples[0][0] > self.span_s:
            self._samples.popleft()

    def value(self, t: float) -> float | None:
        old = [s for ts, s in self._samples if t - ts > 3.0]  # not the last seconds
        return sum(old) / len(old) if len(old) >= 5 else None


def conditions(states: list[ZoneState], zones: dict[str, Zone], tracks: list[Track],
               rules: RulesSection, active: set[str],
               baselines: dict[str, SpeedBaseline]) -> list[Condition]:
    """Situations holding in this frame. ``active`` rules hold at the lower (hysteresis)
    threshold, so a value hovering around a threshold does not flap."""
    out: list[Condition] = []
    k = rules.hysteresis
    for st in states:
        zone = zones[st.zone]
        key = f"density:{st.zone}"
        warn = rules.density_warn * (k if key in active else 1.0)
        band = band_text(st.density, st.density_low, st.density_high, st.method)
        if st.density >= warn:
            critical = st.density >= rules.density_critical
            out.append(Condition(
                key, "crowd_density", 5 if critical else 3,
                f"{'Critical' if critical else 'High'} crowd density in {st.zone}",
                f"{band} ({st.count} people on {zone.area_m2:.0f} m², Fruin level "
                f"{st.level}); warn at {rules.density_warn}, critical at "
                f"{rules.density_critical}", st.zone))
        elif st.uncertain and st.density_high >= rules.density_warn:
            # Never a falsely low density: the band reaches the warning and the estimators
            # disagree (or one is out of what was validated), so the crew is told.
            out.append(Condition(
                f"uncertain:{st.zone}", "crowd_density", 3,
                f"Crowd density uncertain in {st.zone}",
                f"{band}: {st.uncertain}; up to {st.density_high:.1f}/m² cannot be ruled "
                "out, check by eye", st.zone))
        key = f"capacity:{st.zone}"
        if zone.capacity is not None and st.count > zone.capacity * (k if key in active else 1):
            low, high = st.density_low * zone.area_m2, st.density_high * zone.area_m2
            out.append(Condition(key, "crowd_density", 4, f"{st.zone} over capacity",
                                 f"{st.count} people ({low:.0f}-{high:.0f}, "
                                 f"{method_name(st.method)}), capacity {zone.capacity}",
                                 st.zone))
        key = f"counter_flow:{st.zone}"
        share = rules.counter_flow_share * (k if key in active else 1.0)
        if st.moving >= rules.min_moving and st.counter_flow_share >= share:
            out.append(Condition(
                key, "crowd_flow", 3, f"Counter-flow in {st.zone}",
                f"{st.counter_flow_share:.0%} of {st.moving} moving people walk against the "
                f"flow ({st.direction_deg:.0f}°)" if st.direction_deg is not None else "",
                st.zone))
        base = baselines.setdefault(st.zone, SpeedBaseline())
        key = f"speed:{st.zone}"
        if st.speed_m_s is not None and st.moving >= rules.min_moving:
            ref = base.value(st.t)
            if ref is not None and st.speed_m_s >= max(FAST_M_S, ref * rules.speed_rise):
                out.append(Condition(
                    key, "crowd_flow", 4, f"Sudden speed rise in {st.zone}",
                    f"people move at {st.speed_m_s:.1f} m/s, {st.speed_m_s / ref:.1f}x the "
                    f"recent {ref:.1f} m/s: running or dispersal", st.zone))
            if key not in active:  # the baseline learns only normal flow
                base.add(st.t, st.speed_m_s)
    down = [tr for tr in tracks if tr.down]
    if down:
        by_zone: dict[str, list[Track]] = {}
        for tr in down:
            name = next((z.name for z in zones.values()
                         if tr.ground is not None and z.contains(*tr.ground)), "camera")
            by_zone.setdefault(name, []).append(tr)
        for name, trs in by_zone.items():
            where = "" if name == "camera" else f" in {name}"
            out.append(Condition(
                f"person_down:{name}", "person_down", 4,
                f"{'Person' if len(trs) == 1 else f'{len(trs)} people'} down{where}",
                "seen standing, then lying (model class Fall over the track's history, or "
                "low and still)",
                None if name == "camera" else name, rules.down_s))
    return out


@dataclass
class _RuleState:
    since: float | None = None
    """When the condition was first seen in the current episode."""
    gone_since: float | None = None
    active: bool = False
    last: Condition | None = None


class RuleEngine:
    """Dwell times and clearing for one camera's conditions.

    :param camera: the camera name.
    :param rules: thresholds and times.
    :param active: rules already raised (open alerts from the store, after a restart).
    """

    def __init__(self, camera: str, rules: RulesSection, active: dict[str, int] | None = None
                 ) -> None:
        self.camera = camera
        self.rules = rules
        self._states: dict[str, _RuleState] = {}
        for rule, severity in (active or {}).items():
            self._states[rule] = _RuleState(active=True, last=Condition(
                rule, _RESTORED, severity, rule, ""))

    @property
    def active(self) -> set[str]:
        return {k for k, s in self._states.items() if s.active}

    def evaluate(self, t: float, held: list[Condition],
                 scope: set[str] | None = None) -> list[AlertAction]:
        """What to do at time ``t`` given the conditions holding now. Rules whose prefix
        is not in ``scope`` (e.g. "fault") are left alone."""
        actions: list[AlertAction] = []
        now = {c.rule: c for c in held}
        for rule, cond in now.items():
            st = self._states.setdefault(rule, _RuleState())
            st.gone_since = None
            if st.since is None:
                st.since = t
            dwell = self.rules.dwell_s if cond.hold_s is None else cond.hold_s
            if not st.active and t - st.since >= dwell:
                st.active, st.last = True, cond
                actions.append(AlertAction(Action.RAISE, self.camera, cond))
            elif st.active and st.last is not None:
                restored = st.last.kind == _RESTORED
                changed = cond.severity != st.last.severity or (
                    cond.title != st.last.title and not restored)
                st.last = cond
                if changed:
                    actions.append(AlertAction(Action.UPDATE, self.camera, cond))
        for rule, st in self._states.items():
            if rule in now or (scope is not None and rule.split(":")[0] not in scope):
                continue
            st.since = None
            if not st.active:
                continue
            if st.gone_since is None:
                st.gone_since = t
            if t - st.gone_since >= self.rules.clear_s and st.last is not None:
                st.active = False
                actions.append(AlertAction(Action.CLEAR, self.camera, st.last,
                                           _suggestion(st.last, self.rules.clear_s)))
        return actions


def _suggestion(cond: Condition, clear_s: float) -> str:
    what = cond.rule.split(":")[0]
    advice = {
        "density": "density is back below the warning level",
        "uncertain": "the estimators agree again",
        "capacity": "the zone is back within capacity",
        "counter_flow": "the flow is one-way again",
        "speed": "the crowd moves at its usual speed again",
        "person_down": "nobody is seen down any more: confirm with the crew on scene",
        "fault": "the camera delivers usable pictures again",
    }.get(what, "the condition is gone")
    return f"Cleared for {clear_s:.0f} s: {advice}. Suggest resolving if the crew agrees."


def subject(camera: str) -> str:
    """The alert subject of a camera."""
    return f"camera:{camera}"


def apply_actions(log: IncidentLog, actions: list[AlertAction], snapshot: bytes | None = None,
                  location: dict[str, Any] | None = None) -> list[str]:
    """Write ``actions`` to the incident log (runs on the store thread); returns the ids
    of the incidents touched. A cleared situation's incident gets the suggestion as a
    note: the crew resolves it. An action that fails is logged and skipped, whole."""
    touched: list[str] = []
    for act in actions:
        cond, cam = act.condition, act.camera
        try:
            if act.action is Action.CLEAR:
                cleared = alerts.clear(log, subject(cam), cond.rule,
                                note=act.suggestion or "condition cleared")
                touched += [] if cleared is None else [cleared.id]
                continue
            where = dict(location or {})
            where["camera"] = cam
            if cond.zone:
                where["zone"] = cond.zone
            picture = None if snapshot is None else alerts.Snapshot(
                snapshot, f"{cam}-{int(time.time() * 1000)}.jpg")
            outcome = alerts.raise_or_update(log, alerts.Alert(
                subject(cam), cond.rule, cond.title, cond.kind, cond.severity, Source.ANALYTICS,
                cond.detail, where, ((LinkTarget.CAMERA, cam),)), snapshot=picture)
            touched.append(outcome.incident.id)
        except FieldkitError as exc:
            logger.error("analytics: camera %s: cannot %s %s: %s", cam, act.action, cond.rule,
                         exc)
    return touched


def open_alerts(log: IncidentLog, camera: str) -> dict[str, int]:
    """Rules with an open alert on ``camera`` -> the incident's severity."""
    return {a.rule: a.severity for a in alerts.open_alerts(log.store, subject(camera))}
