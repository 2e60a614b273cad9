"""Emergency calls: refused with the reason per field, turned into incidents, merged with
an analytics incident about the same situation, fused with cameras and drones; callback
numbers stay in the local table."""

from __future__ import annotations

import json

import pytest
from hqhelp import LAT0, LON0, FixedClock, gate_camera, offset

from fieldkit.analytics.config import CamerasSection
from fieldkit.errors import InvalidActionError
from fieldkit.hardware.gpsd import Fix
from fieldkit.hardware.health import Condition, HealthAlerts
from fieldkit.hq.calls import contacts_of, parse_call
from fieldkit.hq.config import HqSection
from fieldkit.hq.fusion import camera_footprints, distance_m, take_call
from fieldkit.identity import NodeIdentity
from fieldkit.vocabulary import IncidentKind

NUMBER = "+966 55 123 4567"
HQ_ID = NodeIdentity.generate("HQ")


def _call(**changes):
    data = {"location": {"lat": LAT0, "lon": LON0, "accuracy_m": 20}, "kind": "crowd_flow",
            "description": "people pushing at the gate", "callback": NUMBER}
    data.update(changes)
    return data


@pytest.mark.parametrize(("changes", "reason"), [
    ({"location": None}, "location: Input should be a valid dictionary"),
    ({"location": {"lat": 91, "lon": 0}}, "location.lat: Input should be less than or equal to 90"),
    ({"location": {"lat": 1}}, "refused: location: lat and lon go together; give both or neither"),
    ({"location": {}}, "call refused: location: give lat/lon, a zone or a camera"),
    ({"kind": "riot"}, "kind: Input should be 'crowd_density'"),
    ({"description": ""}, "description: String should have at least 1 character"),
    ({"callback": "call me maybe"}, "callback: not a phone number"),
    ({"callback": 12345}, "callback: Input should be a valid string"),
    ({"severity": 7}, "severity: Input should be less than or equal to 5"),
    ({"severity": "5"}, "severity: Input should be a valid integer"),
    ({"title": ""}, "title: String should have at least 1 character"),
    ({"caller": "x"}, "caller: unknown key"),
])
def test_a_bad_call_is_refused_naming_the_field_and_why(changes, reason):
    with pytest.raises(InvalidActionError) as err:
        parse_call(_call(**changes))
    assert str(err.value).startswith("call refused: ")
    assert reason in str(err.value)


def test_every_bad_field_is_named_and_the_number_never_echoed():
    bad = {"location": {"lat": 200, "lon": 0}, "kind": "x", "description": "",
           "callback": "+1 555 HELP ME"}
    with pytest.raises(InvalidActionError) as err:
        parse_call(bad)
    message = str(err.value)
    for key in ("location.lat", "kind", "description", "callback"):
        assert f"{key}: " in message
    assert "HELP" not in message
    with pytest.raises(InvalidActionError) as err:
        parse_call({})
    assert all(f"{k}: missing" in str(err.value)
               for k in ("location", "kind", "description", "callback"))
    with pytest.raises(InvalidActionError, match=r"^a call must be a JSON object, got list$"):
        parse_call([1])


def test_a_call_opens_an_incident_and_its_number_stays_local(make_log):
    log = make_log(HQ_ID)
    outcome = take_call(log, parse_call(_call(kind="medical")), HqSection(), [])
    assert not outcome.merged
    incident = outcome.incident
    assert (incident.source, incident.kind, incident.severity) == ("call", "medical", 3)
    assert incident.title == "Call: medical"
    assert incident.location == {"lat": LAT0, "lon": LON0, "accuracy_m": 20.0}
    assert [c.callback for c in contacts_of(log.store.conn, incident.id)] == [NUMBER]
    synced = json.dumps([e.to_wire() for _, e in log.feed(limit=1000)])
    assert "55 123" not in synced  # not in any event: events are what sync sends


def test_the_number_is_shared_only_when_configured(make_log):
    log = make_log(HQ_ID)
    hq = HqSection(share_callback_numbers=True)
    incident = take_call(log, parse_call(_call()), hq, []).incident
    assert [n.text for n in incident.notes] == [f"Callback number: {NUMBER}"]


def _analytics(log, north_m=0.0, kind="crowd_density", **location):
    lat, lon = offset(north_m, 0)
    where = location or {"lat": lat, "lon": lon, "camera": "gate3", "zone": "ramp3"}
    return log.create(title="Crowd density 4.6/m² in ramp3", kind=kind, severity=3,
                      source="analytics", location=where, description="camera gate3")


def test_a_call_about_an_analytics_incident_is_merged_not_duplicated(make_log):
    clock = FixedClock()
    log = make_log(HQ_ID, clock=clock)
    seen = _analytics(log, north_m=40)
    clock.advance(120)
    outcome = take_call(log, parse_call(_call(severity=4)), HqSection(), [], now_ms=clock.now)
    assert outcome.merged
    assert outcome.incident.id == seen.id
    assert outcome.distance_m == pytest.approx(40, abs=0.5)
    assert len(log.incidents()) == 1
    merged = log.get(seen.id)
    assert merged.severity == 4  # the caller's higher severity is taken
    assert merged.notes[-1].text.startswith("Emergency call (crowd_flow, severity 4, 40 m "
                                            "from this incident): people pushing")
    assert contacts_of(log.store.conn, seen.id)[0].merged


@pytest.mark.parametrize(("north_m", "wait_s", "kind"), [
    (400, 60, "crowd_flow"),     # too far
    (40, 900, "crowd_flow"),     # too long ago
    (40, 60, "fire"),            # another situation
    (40, 60, "other"),           # "other" is no wildcard
])
def test_a_call_elsewhere_later_or_about_something_else_opens_its_own(make_log, north_m,
                                                                      wait_s, kind):
    clock = FixedClock()
    log = make_log(HQ_ID, clock=clock)
    _analytics(log, north_m=north_m)
    clock.advance(wait_s)
    outcome = take_call(log, parse_call(_call(kind=kind)), HqSection(), [], now_ms=clock.now)
    assert not outcome.merged
    assert len(log.incidents()) == 2


def test_a_medical_call_near_a_truck_on_battery_is_not_merged_into_it(make_log):
    """The truck's own trouble is a hardware incident of its own kind: a medical call
    56 m away is another situation (it was merged into "Truck running on battery")."""
    clock = FixedClock()
    log = make_log(HQ_ID, clock=clock)
    lat, lon = offset(56, 0)
    at = Fix(lat=lat, lon=lon, mode=3, alt_m=None, speed_ms=None, track_deg=None, eph_m=5.0,
             gps_time=None, device=None, received_ms=clock.now)
    HealthAlerts(log).apply([Condition("on_battery", IncidentKind.NODE_POWER, True, 3,
                                       "Truck running on battery", "mains lost")], at=at)
    (truck,) = log.incidents()
    assert (truck.kind, truck.source) == ("node_power", "hardware")
    clock.advance(60)
    call = parse_call(_call(kind="medical", description="man collapsed near the truck"))
    outcome = take_call(log, call, HqSection(), [], now_ms=clock.now)
    assert not outcome.merged
    assert outcome.incident.title == "Call: medical"
    assert log.get(truck.id).notes == []
    assert distance_m(LAT0, LON0, lat, lon) == pytest.approx(56, abs=0.5)


def test_the_merge_distance_and_window_are_configurable(make_log):
    clock = FixedClock()
    log = make_log(HQ_ID, clock=clock)
    _analytics(log, north_m=400)
    clock.advance(900)
    hq = HqSection(merge_distance_m=500, merge_window_s=1000)
    assert take_call(log, parse_call(_call()), hq, [], now_ms=clock.now).merged


def test_cameras_that_see_the_caller_and_the_nearest_drone_are_linked(make_log):
    clock = FixedClock()
    log = make_log(HQ_ID, clock=clock)
    footprints = camera_footprints(
        CamerasSection(enabled=False, cameras=[gate_camera("gate3"), gate_camera("gate4")
                                               .model_copy(update={"name": "gate4"})]), 150)
    with log.store.write() as conn:
        for vehicle, (lat, lon), age_s in (("D1", offset(30, 200), 5), ("D2", offset(30, 20), 5),
                                           ("D3", offset(30, 0), 600)):
            conn.execute("INSERT INTO drone_samples (vehicle, link, system_id, at_ms, lat, lon)"
                         " VALUES (?, 'pilots', 1, ?, ?, ?)",
                         [vehicle, clock.now - age_s * 1000, lat, lon])
        # Sampled 5 s ago for a heartbeat, but its position is 10 minutes old.
        conn.execute("INSERT INTO drone_samples (vehicle, link, system_id, at_ms, lat, lon,"
                     " position_age_s) VALUES ('D4', 'pilots', 4, ?, ?, ?, 600)",
                     [clock.now - 5000, *offset(30, 0)])
    lat, lon = offset(30, 0)
    outcome = take_call(log, parse_call(_call(kind="fire", location={"lat": lat, "lon": lon})),
                        HqSection(), footprints, now_ms=clock.now)
    assert outcome.cameras == ["gate3", "gate4"]
    assert outcome.drone == "D2"  # D3 and D4 are nearer but their positions are 10 min old
    assert {(link.target, link.ref) for link in outcome.incident.links} == {
        ("camera", "gate3"), ("camera", "gate4"), ("drone", "D2")}
    far = offset(-300, 0)
    outcome = take_call(log, parse_call(_call(kind="fire", location={"lat": far[0],
                                                                     "lon": far[1]})),
                        HqSection(), footprints, now_ms=clock.now)
    assert outcome.cameras == []


def test_an_incident_placed_by_camera_only_merges_when_the_camera_sees_the_caller(make_log):
    clock = FixedClock()
    log = make_log(HQ_ID, clock=clock)
    footprints = camera_footprints(CamerasSection(enabled=False, cameras=[gate_camera()]), 150)
    seen = _analytics(log, kind="person_down", camera="gate3", zone="ramp3")
    lat, lon = offset(35, 5)
    outcome = take_call(log, parse_call(_call(kind="medical", location={"lat": lat, "lon": lon})),
                        HqSection(), footprints, now_ms=clock.now)
    assert outcome.merged
    assert outcome.incident.id == seen.id
    assert outcome.distance_m == 0.0


def test_distance():
    assert distance_m(LAT0, LON0, *offset(100, 0)) == pytest.approx(100, rel=3e-3)
    assert distance_m(LAT0, LON0, *offset(0, 100)) == pytest.approx(100, rel=3e-3)
