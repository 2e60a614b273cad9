"""Zone measures and states: occupancy with drift correction, dwell and hysteresis."""

from __future__ import annotations

import pytest
from sensorhelp import turnstile_zone

from fieldkit.errors import IngestError
from sensors.config import SensorsSection
from sensors.readings import parse_payload
from sensors.zones import ZoneBoard, ZoneState, level_of

T0 = 1_800_000_000_000


def _board(**changes) -> ZoneBoard:
    section = turnstile_zone(1883)
    section.update(changes)
    return ZoneBoard(SensorsSection.model_validate(section), T0)


def _feed(board: ZoneBoard, sensor: str, value: float, at_ms: int) -> None:
    track = board.tracks[sensor]
    board.apply(parse_payload(track.section, {"value": value, "at": at_ms}, at_ms, "mqtt",
                              300_000))


def test_level_hysteresis():
    thresholds = (2.0, 3.5, 5.0)
    assert level_of(3.6, thresholds, ZoneState.FREE, 0.15) is ZoneState.CONGESTED
    # Just under the threshold is not enough to leave congested ...
    assert level_of(3.2, thresholds, ZoneState.CONGESTED, 0.15) is ZoneState.CONGESTED
    # ... a clear fall is.
    assert level_of(2.9, thresholds, ZoneState.CONGESTED, 0.15) is ZoneState.DENSE


def test_state_changes_after_dwell_only():
    board = _board(dwell_s=10)
    zone = board.zones["concourse"]
    _feed(board, "concourse-count", 100, T0)  # 0.5 p/m²
    assert [z.section.name for z in board.evaluate(T0)] == ["concourse"]
    assert zone.state is ZoneState.FREE  # leaving unknown takes no dwell
    _feed(board, "concourse-count", 800, T0 + 1000)  # 4 p/m²: congested
    assert board.evaluate(T0 + 1000) == []
    assert board.evaluate(T0 + 10_999) == []
    assert board.evaluate(T0 + 11_000) == [zone]
    assert zone.state is ZoneState.CONGESTED
    # A blip back to free shorter than the dwell changes nothing.
    _feed(board, "concourse-count", 100, T0 + 12_000)
    board.evaluate(T0 + 12_000)
    _feed(board, "concourse-count", 800, T0 + 15_000)
    assert board.evaluate(T0 + 30_000) == []
    assert zone.state is ZoneState.CONGESTED


def test_silent_sensors_make_the_zone_unknown():
    board = _board()
    _feed(board, "concourse-count", 100, T0)
    board.evaluate(T0)
    # expected every 5 s; silent for 3 intervals: no longer fresh.
    board.evaluate(T0 + 15_001)
    assert board.zones["concourse"].state is ZoneState.UNKNOWN
    snapshot = board.snapshot(T0 + 15_001)
    count, gate_in = snapshot["sensors"][2], snapshot["sensors"][0]
    assert (count["healthy"], count["fault"], count["expected_interval_s"]) == (
        False, "silent 15 s", 5)
    assert gate_in["fault"] == "never heard"  # past its grace from the board's start
    zone = snapshot["zones"][0]
    # Unknown since the count went quiet: no density, and the data says how old it is.
    assert (zone["state"], zone["density"], zone["age_s"]) == ("unknown", None, 15.0)


def test_density_says_its_band_source_and_method():
    board = _board()
    assert board.snapshot(T0)["zones"][0]["state_age_s"] == 0  # unknown since the start
    _feed(board, "concourse-count", 100, T0)  # 0.5 p/m²: sets the level
    _feed(board, "gate-in", 1000, T0)
    _feed(board, "gate-in", 1040, T0 + 1000)  # 40 more in: 140 people, ±1 % of 40
    zone = board.zones["concourse"].to_json(T0 + 1000)
    assert (zone["density"], zone["density_band"]) == (0.7, [0.698, 0.702])
    assert zone["density_source"] == "sensors"
    assert zone["density_method"] == "entries-exits, anchored"


def test_counter_reset_counts_from_zero():
    board = _board()
    _feed(board, "gate-in", 5000, T0)
    _feed(board, "gate-in", 5010, T0 + 1000)
    _feed(board, "gate-in", 4, T0 + 2000)  # the controller rebooted
    assert board.zones["concourse"].occupancy == 14


def test_flow_per_metre():
    board = _board(flow_window_s=10)
    _feed(board, "gate-out", 0, T0)
    _feed(board, "gate-out", 40, T0 + 5000)
    # 40 out in the 5 s counted so far (the 10 s window is not full yet).
    body = board.zones["concourse"].to_json(T0 + 5000)
    assert body["outflow_p_s"] == 8.0
    assert body["outflow_pm_s"] == 2.0  # 4 m of exits
    # Later the window is full: 40 in 10 s.
    assert board.zones["concourse"].to_json(T0 + 10_000)["outflow_p_s"] == 4.0


@pytest.mark.parametrize(("payload", "message"), [
    (b"x" * 5000, "payload of 5000 bytes is larger than 4096"),
    (b"[1]", "value [1] is not a number"),
    (b"[" * 4000, "is neither a number nor JSON"),  # was a RecursionError (issue 14 item 4)
    (b'{"value": 1, "extra": 2}', "unknown field(s) 'extra'"),
    (b'{"at": 1}', "payload has no 'value'"),
    (b"NaN", "value nan is not finite"),
    (b'{"value": 1, "at": "yesterday"}', "at 'yesterday' is not epoch seconds"),
    (b'{"value": 1e12}', "value 1e+12 is outside 0..1e+09 persons for people_count"),
])
def test_malformed_payloads_name_the_problem(payload, message):
    sensor = _board().tracks["plaza-count"].section
    with pytest.raises(IngestError, match=r"^sensor plaza-count: ") as info:
        parse_payload(sensor, payload, T0, "mqtt", 300_000)
    assert message in str(info.value)


def test_reading_keeps_both_clocks():
    sensor = _board().tracks["plaza-count"].section
    stamped = b'{"value": 3, "at": "2027-01-15T08:00:00+00:00"}'  # T0
    r = parse_payload(sensor, stamped, T0 + 2000, "mqtt", 300_000)
    assert (r.sensor_ms, r.at_ms, r.received_ms) == (T0, T0, T0 + 2000)
    # The sensor's clock jumped an hour: its stamp is kept, the arrival time is used.
    r = parse_payload(sensor, stamped, T0 + 3_600_000, "mqtt", 300_000)
    assert (r.sensor_ms, r.at_ms) == (T0, T0 + 3_600_000)


@pytest.mark.parametrize(("change", "message"), [
    ({"zones": [{"name": "a", "area_m2": 1, "exit_width_m": 1, "neighbours": ["b"]}],
      "sensors": []}, "sensors -> zones -> a: neighbour 'b' is not another zone"),
    ({"mqtt": {"host": "10.0.0.5"}}, "host '10.0.0.5' is not loopback, so username, password"),
    ({"push_token": "short"}, "sensors -> push_token: shorter than 16 characters"),
])
def test_config_errors_name_the_key(change, message):
    section = turnstile_zone(1883)
    section.update(change)
    with pytest.raises(ValueError, match=message):
        SensorsSection.model_validate(section)


def test_units_must_fit_the_kind():
    section = turnstile_zone(1883)
    section["sensors"].append({"id": "rs", "kind": "road_speed", "zone": "plaza",
                               "units": "persons"})
    with pytest.raises(ValueError, match="units 'persons' do not fit kind road_speed"):
        SensorsSection.model_validate(section)


def test_views_have_every_field_of_the_snapshot():
    from fieldkit.views import SensorView, SensorZoneView

    snapshot = _board().snapshot(T0)
    assert set(SensorZoneView.model_fields) == set(snapshot["zones"][0])
    assert set(SensorView.model_fields) == set(snapshot["sensors"][0])


def test_a_camera_over_the_same_ground_is_compared_and_judges_too():
    from sensors.cameras import CameraSight

    board = _board(dwell_s=0)
    _feed(board, "concourse-count", 100, T0)  # sensors: 0.5 p/m², free
    board.see({"concourse": CameraSight("gate-cam", 780.0, 3.9, (3.1, 4.6), T0 - 2000)})
    board.evaluate(T0)
    body = board.zones["concourse"].to_json(T0)
    assert body["state"] == "congested"  # the worse source judges
    assert body["camera"] == {"camera": "gate-cam", "count": 780.0, "density": 3.9,
                              "band": (3.1, 4.6), "age_s": 2.0}
    assert body["camera_difference"] == -680.0
    assert (body["density"], body["density_band"], body["density_source"]) == (
        3.9, [3.1, 4.6], "camera gate-cam")
    # A camera window older than a minute no longer counts.
    _feed(board, "concourse-count", 100, T0 + 70_000)
    board.evaluate(T0 + 70_000)
    assert board.zones["concourse"].state.label == "free"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_camera_sights_read_the_densest_fresh_window(backend, request, tmp_path):
    from fieldkit.store import open_store
    from sensors.cameras import camera_sights

    where = tmp_path / "t01.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = open_store(where)
    request.addfinalizer(store.close)
    cols = ("camera, zone, start_ms, end_ms, samples, count, peak, density, level, "
            "counter_flow_share, stationary_share, method")
    with store.write() as conn:
        windows = [("a", T0 - 5000, 100, 0.5), ("a", T0 - 1000, 120, 0.6),
                   ("b", T0 - 2000, 300, 1.5), ("c", T0 - 90_000, 900, 4.5)]  # c: too old
        for camera, end, count, density in windows:
            conn.execute(f"INSERT INTO zone_metrics ({cols}) VALUES (?, 'concourse', ?, ?, 10, ?,"
                         " 1, ?, 'C', 0, 0, 'fused')", [camera, end - 10_000, end, count, density])
    sight = camera_sights(store.conn, ["concourse", "plaza"], T0)
    assert list(sight) == ["concourse"]
    assert (sight["concourse"].camera, sight["concourse"].count) == ("b", 300.0)
    assert sight["concourse"].method == "fused"


def test_a_road_zone_is_judged_on_loop_occupancy():
    section = turnstile_zone(1883)
    section["zones"].append({"name": "ring-road", "kind": "road", "area_m2": 5000,
                             "exit_width_m": 7})
    section["sensors"] += [
        {"id": "loop-7", "kind": "road_occupancy", "zone": "ring-road", "units": "%"},
        {"id": "speed-7", "kind": "road_speed", "zone": "ring-road", "units": "km/h"}]
    board = ZoneBoard(SensorsSection.model_validate(section), T0)
    road = board.zones["ring-road"]
    _feed(board, "speed-7", 12, T0)
    board.evaluate(T0)
    assert road.state.label == "unknown"  # speed alone does not judge it
    _feed(board, "loop-7", 52, T0)
    board.evaluate(T0)
    body = road.to_json(T0)
    assert (body["state"], body["measure"], body["value"]) == ("congested", "road_occupancy", 52)
    assert body["occupancy"] is None  # no people counted on a road
    assert road.spare_capacity(T0) is None
