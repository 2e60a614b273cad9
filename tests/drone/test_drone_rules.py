"""Alert rules: raised once, escalated, cleared with hysteresis (pure, on samples)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from drone.config import DronesSection
from drone.rules import Action, AlertBook, AlertRules, age_text, inside, stale_fields
from drone.state import TelemetrySample

SQUARE = [(21.0, 39.0), (21.0, 39.01), (21.01, 39.01), (21.01, 39.0)]


def settings(**kw) -> DronesSection:
    return DronesSection.model_validate({"link_lost_s": 5, "gps_lost_s": 3, **kw})


def sample(**kw) -> TelemetrySample:
    base = dict(vehicle="D1", link="L1", system_id=1, at=0.0, armed=True, mode="AUTO",
                lat=20.0, lon=38.0, alt_rel_m=60.0, battery_pct=80.0, gps_fix=3,
                heartbeat_age_s=0.5, gps_accuracy_m=2.0)
    return TelemetrySample(**{**base, **kw})


def run(book: AlertBook, s: TelemetrySample, now: float = 0.0):
    actions = book.step([s], now)
    for i, a in enumerate(actions):
        book.done(a, a.incident or f"inc-{a.rule}-{i}")
    return [(a.action, a.rule, a.severity) for a in actions]


def test_link_lost_is_raised_once_and_cleared():
    book = AlertBook(AlertRules(settings()))
    assert run(book, sample()) == []
    lost = sample(heartbeat_age_s=6.0)
    assert run(book, lost) == [(Action.RAISE, "link_lost", 4)]
    assert run(book, lost) == []  # still lost: not raised again
    assert run(book, replace(lost, heartbeat_age_s=60.0)) == []
    assert run(book, sample()) == [(Action.CLEAR, "link_lost", 4)]
    assert book.open == {}


def test_link_lost_of_a_disarmed_drone_is_minor():
    book = AlertBook(AlertRules(settings()))
    assert run(book, sample(heartbeat_age_s=9.0, armed=False)) == [
        (Action.RAISE, "link_lost", 2)]


def test_raise_carries_last_known_position_and_detail():
    book = AlertBook(AlertRules(settings()))
    now = 1_796_000_000.0
    (a,) = book.step([sample(at=now, heartbeat_age_s=1860.0, position_age_s=1862.0)], now)
    # The position carries its own age: it was measured 31 min before the alert.
    assert a.location == {"lat": 20.0, "lon": 38.0, "accuracy_m": 2.0,
                          "at_ms": round((now - 1862.0) * 1000)}
    assert a.title == "Drone D1: telemetry link lost"
    assert "No heartbeat for 1860 s on link L1" in a.detail
    assert "last position 31 min ago at 20.000000, 38.000000, 60 m above home" in a.detail
    (a,) = AlertBook(AlertRules(settings())).step(
        [sample(heartbeat_age_s=6.0, lat=None, lon=None)], 0.0)
    assert a.location is None
    assert "position unknown" in a.detail


def test_battery_low_then_critical_then_swapped():
    book = AlertBook(AlertRules(settings(battery_low_pct=30, battery_critical_pct=15)))
    assert run(book, sample(battery_pct=31)) == []
    assert run(book, sample(battery_pct=29)) == [(Action.RAISE, "battery", 3)]
    assert run(book, sample(battery_pct=20)) == []
    assert run(book, sample(battery_pct=14)) == [(Action.ESCALATE, "battery", 4)]
    assert run(book, sample(battery_pct=10)) == []
    assert run(book, sample(battery_pct=32)) == []  # within the 5% hysteresis: stays open
    assert run(book, sample(battery_pct=100)) == [(Action.CLEAR, "battery", 4)]


def test_gps_lost_needs_to_last():
    book = AlertBook(AlertRules(settings(gps_lost_s=3)))
    assert run(book, sample(), now=0) == []
    assert run(book, sample(gps_fix=1), now=10) == []
    assert run(book, sample(gps_fix=1), now=12) == []
    assert run(book, sample(gps_fix=1), now=13) == [(Action.RAISE, "gps_lost", 4)]
    assert run(book, sample(gps_fix=3), now=14) == [(Action.CLEAR, "gps_lost", 4)]


def test_no_fix_on_the_ground_before_first_fix_is_not_an_alert():
    book = AlertBook(AlertRules(settings(gps_lost_s=0)))
    assert run(book, sample(gps_fix=0, armed=False), now=0) == []
    assert run(book, sample(gps_fix=0, armed=False), now=100) == []


def test_a_new_session_on_the_ground_without_a_fix_is_not_gps_lost():
    """The last session had a fix; the rebooted autopilot, disarmed, is still acquiring:
    not an alert (armed, it would be)."""
    book = AlertBook(AlertRules(settings(gps_lost_s=0)))
    assert run(book, sample(), now=0) == []
    assert run(book, sample(gps_fix=1, armed=False, session=2), now=10) == []
    assert run(book, sample(gps_fix=1, armed=False, session=2), now=20) == []
    assert run(book, sample(gps_fix=1, armed=True, session=2), now=30) == [
        (Action.RAISE, "gps_lost", 4)]


def test_geofence_breach_and_exit():
    fence = {"name": "main square", "polygon": SQUARE, "severity": 5}
    book = AlertBook(AlertRules(settings(geofences=[fence])))
    assert run(book, sample(lat=20.9, lon=39.005)) == []
    assert run(book, sample(lat=21.005, lon=39.005)) == [
        (Action.RAISE, "geofence:main square", 5)]
    assert run(book, sample(lat=21.006, lon=39.005)) == []
    assert run(book, sample(lat=21.02, lon=39.005)) == [
        (Action.CLEAR, "geofence:main square", 5)]


def test_alerts_are_per_vehicle():
    book = AlertBook(AlertRules(settings()))
    acts = book.step([sample(heartbeat_age_s=9), sample(vehicle="D2", heartbeat_age_s=9)], 0)
    assert sorted(a.vehicle for a in acts) == ["D1", "D2"]


def test_stale_fields_follow_their_thresholds():
    cfg = settings(stale={"battery_s": 10, "position_s": 3})
    assert stale_fields(sample(position_age_s=3.0, battery_age_s=9.0, gps_age_s=1.0), cfg) == []
    assert stale_fields(sample(heartbeat_age_s=6, position_age_s=3.5, battery_age_s=11,
                               gps_age_s=6, attitude_age_s=0.1), cfg) == [
        "heartbeat", "position", "battery", "gps"]
    assert [age_text(s) for s in (6.4, 1860, 9000)] == ["6 s", "31 min", "2.5 h"]


def test_stale_inputs_neither_raise_nor_clear():
    fence = {"name": "main square", "polygon": SQUARE, "severity": 5}
    book = AlertBook(AlertRules(settings(geofences=[fence], battery_low_pct=30)))
    old = {"battery_age_s": 1800.0, "position_age_s": 1800.0, "gps_age_s": 1800.0}
    # An old low battery and an old position inside the fence are not today's problems.
    assert run(book, sample(battery_pct=10, lat=21.005, lon=39.005, **old)) == []
    assert run(book, sample(battery_pct=10, lat=21.005, lon=39.005)) == [
        (Action.RAISE, "battery", 4), (Action.RAISE, "geofence:main square", 5)]
    # Gone stale: unknown, so the alerts stay open (not "cleared" by a missing value).
    assert run(book, sample(battery_pct=100, lat=20.0, lon=38.0, **old)) == []
    assert run(book, sample(battery_pct=100, lat=20.0, lon=38.0)) == [
        (Action.CLEAR, "battery", 4), (Action.CLEAR, "geofence:main square", 5)]


@pytest.mark.parametrize(("lat", "lon", "expected"), [
    (21.005, 39.005, True), (21.02, 39.005, False), (21.005, 38.99, False),
    (20.999, 39.005, False)])
def test_inside(lat, lon, expected):
    assert inside(SQUARE, lat, lon) is expected
