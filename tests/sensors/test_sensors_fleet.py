"""Zone states reach HQ through the incidents they raise (readings stay on the node)."""

from __future__ import annotations

import geojson
from sensorhelp import turnstile_zone

from fieldkit.alerts import clear, raise_or_update
from fieldkit.hq.fleet import fleet_picture
from fieldkit.hq.geojson import picture_geojson
from fieldkit.identity import NodeIdentity
from sensors.config import SensorsSection
from sensors.incidents import silent_alert, zone_alert
from sensors.readings import parse_payload
from sensors.zones import ZoneBoard

T0 = 1_800_000_000_000


def test_hq_sees_the_zone_state_a_truck_reported(make_log, tmp_path):
    t01 = NodeIdentity.generate("T01")
    hq_id = NodeIdentity.generate("HQ")
    truck, hq = make_log(t01, hq_id), make_log(hq_id, t01)
    board = ZoneBoard(SensorsSection.model_validate(turnstile_zone(1883)), T0)
    sensor = board.tracks["concourse-count"].section
    board.apply(parse_payload(sensor, {"value": 800, "at": T0}, T0, "mqtt", 300_000))
    board.evaluate(T0)
    zone = board.zones["concourse"]
    raise_or_update(truck, zone_alert(board, zone, T0))
    hq.apply(truck.events_since({}))

    picture = fleet_picture(hq, "HQ", T0)
    [t01_entry] = [n for n in picture["nodes"] if n["node"] == "T01"]
    assert t01_entry["zones"]["concourse"]["state"] == "congested"
    features = picture_geojson(hq.incidents(), node="HQ")["features"]
    [feature] = [f for f in features if f["properties"]["layer"] == "zone"]
    assert feature["properties"]["state"] == "congested"
    assert feature["geometry"]["coordinates"] == [7.75, 48.58]
    assert geojson.loads(geojson.dumps(picture_geojson(hq.incidents(), node="HQ"))).is_valid
    assert feature["properties"]["sensors_silent"] is None

    # 16 s on, nothing has reported for 3 intervals (5 s): the truck says so, and HQ
    # shows it in the fleet picture and on the truck's zones in the feed.
    silent = silent_alert(board, T0 + 16_000)
    assert silent is not None
    raise_or_update(truck, silent)
    hq.apply(truck.events_since(hq.version_vector()))
    said = ("gate-in (never heard), gate-out (never heard), concourse-count (silent 16 s), "
            "plaza-count (never heard)")
    t01_entry = next(n for n in fleet_picture(hq, "HQ", T0)["nodes"] if n["node"] == "T01")
    assert said in t01_entry["sensors_silent"]
    features = picture_geojson(hq.incidents(), node="HQ")["features"]
    [feature] = [f for f in features if f["properties"]["layer"] == "zone"]
    assert said in feature["properties"]["sensors_silent"]

    clear(truck, "zone:concourse", "state", resolve="cleared: measured back to normal")
    hq.apply(truck.events_since(hq.version_vector()))
    picture = fleet_picture(hq, "HQ", T0)
    assert next(n for n in picture["nodes"] if n["node"] == "T01")["zones"]["concourse"][
        "state"] == "free"
    # No reading ever left the truck.
    assert hq.store.conn.execute("SELECT count(*) FROM sensor_readings").fetchone()[0] == 0


def test_the_console_fleet_table_shows_zones_and_silent_sensors():
    from rich.console import Console

    from fieldkit.views import FleetView
    from tui._panels import fleet_table

    base = {"self": False, "last_sync_s_ago": 3.0, "last_sync_error": None,
            "last_event_s_ago": 1.0, "events": 9, "open_incidents": 2, "top_incidents": [],
            "cameras": {}, "drones": {}}
    fleet = FleetView.model_validate({"node": "HQ", "live": {"cameras": {}, "drones": []},
                                      "nodes": [
        {**base, "node": "T01", "sensors_silent": "Silent beyond 3 expected intervals: x",
         "zones": {"gate": {"state": "congested", "since_s_ago": 4.0, "incident": "i1"},
                   "plaza": {"state": "free", "since_s_ago": 60.0, "incident": "i2"}}},
        {**base, "node": "T02"}]})
    console = Console(width=140, record=True)
    console.print(fleet_table(fleet))
    text = console.export_text()
    assert "2 (congested) sensors silent" in text
    t02_row = next(line for line in text.splitlines() if line.strip().startswith("T02"))
    assert t02_row.rstrip().endswith("-")
