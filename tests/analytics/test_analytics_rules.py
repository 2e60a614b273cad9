"""Rules: each fires once after its dwell, is updated not duplicated, clears once."""

from __future__ import annotations

from dataclasses import replace

from conftest import ZONE, calibration_of, camera_for, small_scene

from fieldkit.analytics.config import RulesSection, ZoneSection
from fieldkit.analytics.rules import (
    Action,
    AlertAction,
    Condition,
    RuleEngine,
    SpeedBaseline,
    apply_actions,
    conditions,
    open_alerts,
)
from fieldkit.analytics.tracker import Track
from fieldkit.analytics.zones import Zone, ZoneState
from fieldkit.log import IncidentLog

RULES = RulesSection(dwell_s=2.0, clear_s=3.0)


def _zone(capacity: int | None = None) -> Zone:
    cal = calibration_of(camera_for(small_scene()))
    return Zone(ZoneSection(name="z1", polygon=ZONE, capacity=capacity), cal)


def _state(t: float, density: float = 0.5, *, count: int | None = None, speed: float = 1.0,
           counter: float = 0.0, moving: int = 10) -> ZoneState:
    return ZoneState("z1", t, count if count is not None else round(density * 30), density, "C",
                     speed, 0.0, moving, counter, 0.0)


def _run(engine: RuleEngine, zones: dict[str, Zone], states: list[ZoneState],
         tracks: list[Track] | None = None) -> list[tuple[float, Action, str, int]]:
    """Feed one state per step; return (t, action, rule, severity)."""
    baselines: dict[str, SpeedBaseline] = {}
    out = []
    for st in states:
        held = conditions([st], zones, tracks or [], RULES, engine.active, baselines)
        for a in engine.evaluate(st.t, held):
            out.append((st.t, a.action, a.condition.rule, a.condition.severity))
    return out


def _series(values: list[float], step: float = 0.5) -> list[tuple[float, float]]:
    return [(k * step, v) for k, v in enumerate(values)]


def test_density_raises_after_dwell_escalates_and_clears_once() -> None:
    zones = {"z1": _zone()}
    # 1 s below, 4 s at 4.5 (warn), 3 s at 6 (critical), 2 s dipping to 3.6 (still above
    # 4 * 0.85 = 3.4: hysteresis holds it), then 5 s at 1.
    values = [1] * 2 + [4.5] * 8 + [6] * 6 + [3.6] * 4 + [1] * 10
    actions = _run(RuleEngine("cam1", RULES), zones, [_state(t, v) for t, v in _series(values)])
    kinds = [(a, r, s) for _, a, r, s in actions]
    assert kinds == [(Action.RAISE, "density:z1", 3), (Action.UPDATE, "density:z1", 5),
                     (Action.UPDATE, "density:z1", 3), (Action.CLEAR, "density:z1", 3)]
    raised, escalated, _, cleared = (t for t, *_ in actions)
    assert raised == 3.0  # first seen at 1.0 s, dwell 2 s
    assert escalated == 5.0
    assert cleared == 10.0 + 3.0  # gone from 10.0 s, clear after 3 s


def test_a_blip_shorter_than_the_dwell_raises_nothing() -> None:
    values = [1] * 2 + [6] * 3 + [1] * 10
    assert _run(RuleEngine("cam1", RULES), {"z1": _zone()},
                [_state(t, v) for t, v in _series(values)]) == []


def test_hovering_at_the_threshold_does_not_flap() -> None:
    values = [4.2, 3.9] * 20  # around warn = 4, above 4 * 0.85 once raised
    actions = _run(RuleEngine("cam1", RULES), {"z1": _zone()},
                   [_state(t, v) for t, v in _series([4.2] * 6 + values)])
    assert [a for _, a, *_ in actions] == [Action.RAISE]


def test_counter_flow_capacity_and_speed_each_fire_once_and_clear_once() -> None:
    zones = {"z1": _zone(capacity=20)}
    states = []
    t = 0.0
    for _ in range(40):  # calm: 1 m/s, 15 people, no counter-flow (learns the baseline)
        states.append(_state(t, count=15, density=0.5, speed=1.0))
        t += 0.5
    for _ in range(10):  # counter-flow, over capacity and running at once
        states.append(_state(t, count=25, density=0.8, speed=2.6, counter=0.4))
        t += 0.5
    for _ in range(12):
        states.append(_state(t, count=15, density=0.5, speed=1.0))
        t += 0.5
    actions = _run(RuleEngine("cam1", RULES), zones, states)
    by_rule: dict[str, list[Action]] = {}
    for _, action, rule, _ in actions:
        by_rule.setdefault(rule, []).append(action)
    assert by_rule == {
        "capacity:z1": [Action.RAISE, Action.CLEAR],
        "counter_flow:z1": [Action.RAISE, Action.CLEAR],
        "speed:z1": [Action.RAISE, Action.CLEAR],
    }


def test_person_down_needs_a_track_seen_standing_then_lying() -> None:
    zones = {"z1": _zone()}
    down = Track(7, (0, 0, 40, 20), 0.5, True, (0.0, 6.0), (0.0, 0.0), 1.0, True, 9.0, True,
                 True)
    ok = Track(8, (0, 0, 20, 40), 0.5, False, (1.0, 6.0), (0.0, 1.0), 0.0, False, 9.0, True)
    cloth = Track(9, (0, 0, 40, 20), 0.6, True, (-1.0, 6.0), (0.0, 0.0), 1.0, True, 9.0,
                  False, True)
    rules = RULES.model_copy(update={"down_s": 3.0})
    engine = RuleEngine("cam1", rules)
    base: dict[str, SpeedBaseline] = {}
    out = []
    for k in range(30):
        t = k * 0.5
        tracks = [down, ok, cloth] if k < 16 else [ok, cloth]
        held = conditions([], zones, tracks, rules, engine.active, base)
        out += [(t, a.action, a.condition.title) for a in engine.evaluate(t, held)]
    assert out == [(3.0, Action.RAISE, "Person down in z1"),
                   (11.0, Action.CLEAR, "Person down in z1")]


def _condition(severity: int = 3, title: str = "High crowd density in z1") -> Condition:
    return Condition("density:z1", "crowd_density", severity, title, "4.5 persons/m²", "z1")


def test_incidents_are_one_per_situation_with_snapshots(log: IncidentLog) -> None:
    jpeg = b"\xff\xd8\xff\xe0 fake jpeg \xff\xd9"
    raise_ = AlertAction(Action.RAISE, "cam1", _condition())
    (first,) = apply_actions(log, [raise_], jpeg, {"lat": 21.4, "lon": 39.8})
    incident = log.get(first)
    assert (incident.kind, incident.severity, incident.source) == ("crowd_density", 3,
                                                                  "analytics")
    assert incident.location == {"lat": 21.4, "lon": 39.8, "camera": "cam1", "zone": "z1"}
    assert [a.mime for a in incident.attachments] == ["image/jpeg"]
    assert [(link.target, link.ref) for link in incident.links] == [("camera", "cam1")]

    update = AlertAction(Action.UPDATE, "cam1", _condition(5, "Critical crowd density in z1"))
    assert apply_actions(log, [update], jpeg) == [first]
    incident = log.get(first)
    assert (incident.severity, incident.title) == (5, "Critical crowd density in z1")
    assert open_alerts(log, "cam1") == {"density:z1": 5}

    clear = AlertAction(Action.CLEAR, "cam1", _condition(5), "Cleared for 3 s: suggest resolving")
    assert apply_actions(log, [clear]) == [first]
    assert log.get(first).notes[-1].text == "Cleared for 3 s: suggest resolving"
    assert open_alerts(log, "cam1") == {}

    # The situation returns while the crew has not resolved it: the same incident.
    assert apply_actions(log, [raise_], jpeg) == [first]
    assert log.get(first).notes[-1].text.startswith("Condition back:")
    assert len(log.incidents()) == 1

    # Once resolved, a new episode is a new incident.
    apply_actions(log, [clear])
    log.set_status(first, "resolved")
    (second,) = apply_actions(log, [raise_], jpeg)
    assert second != first
    assert len(log.incidents()) == 2


def test_a_restarted_engine_does_not_raise_open_alerts_again() -> None:
    engine = RuleEngine("cam1", RULES, active={"density:z1": 3})
    cond = _condition()
    assert engine.evaluate(0.0, [cond]) == []
    assert engine.evaluate(5.0, [cond]) == []
    assert [a.action for a in engine.evaluate(10.0, [])] == []
    assert [a.action for a in engine.evaluate(13.0, [])] == [Action.CLEAR]


def test_density_incidents_say_the_band_and_uncertain_zones_are_not_silent() -> None:
    zones = {"z1": _zone()}
    sure = replace(_state(0.0, 4.8), density_low=3.9, density_high=5.6, method="density")
    held = conditions([sure], zones, [], RULES, set(), {})
    assert held[0].detail.startswith("4.8/m² (3.9-5.6), density map")
    # Low by the count, but the estimators disagree and the band reaches the warning.
    doubt = replace(_state(0.0, 1.0), density_low=1.0, density_high=4.5, method="fused",
                    uncertain="30 people detected, the density map reads 10")
    held = conditions([doubt], zones, [], RULES, set(), {})
    assert [c.rule for c in held] == ["uncertain:z1"]
    assert "30 people detected" in held[0].detail
    assert held[0].title == "Crowd density uncertain in z1"
    calm = replace(doubt, density_high=2.0)  # uncertain, but nowhere near the warning
    assert conditions([calm], zones, [], RULES, set(), {}) == []


def test_over_capacity_says_how_many_people_their_band_and_the_capacity() -> None:
    zones = {"z1": _zone(capacity=4)}
    over = replace(_state(0.0, 10 / 30, count=10), density_low=5 / 30, density_high=14 / 30,
                   method="density")
    (held,) = [c for c in conditions([over], zones, [], RULES, set(), {})
               if c.rule == "capacity:z1"]
    assert held.detail == "10 people (5-14, density map), capacity 4"
