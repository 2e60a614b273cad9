"""Zone states reach HQ through the incidents they raise (readings stay on the node)."""

from __future__ import annotations

import geojson
from sensorhelp import turnstile_zone

from fieldkit.alerts import clear, raise_or_update
from fieldkit.hq.fleet import fleet_picture
from fieldkit.hq.geojson import picture_geojson
from fieldkit.identity import NodeIdentity
from sensors.config import SensorsSection
from sensors.incidents import zone_alert
from sensors.readings import parse_payload
from sensors.zones import ZoneBoard

T0 = 1_800_000_000_000


def test_hq_sees_the_zone_state_a_truck_reported(make_log, tmp_path):
    t01 = NodeIdentity.generate("T01")
    hq_id = NodeIdentity.generate("HQ")
    truck, hq = make_log(t01, hq_id), make_log(hq_id, t01)
    board = ZoneBoard(SensorsSection.model_validate(turnstile_zone(1883)))
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

    clear(truck, "zone:concourse", "state", resolve="cleared: measured back to normal")
    hq.apply(truck.events_since(hq.version_vector()))
    picture = fleet_picture(hq, "HQ", T0)
    assert next(n for n in picture["nodes"] if n["node"] == "T01")["zones"]["concourse"][
        "state"] == "free"
    # No reading ever left the truck.
    assert hq.store.conn.execute("SELECT count(*) FROM sensor_readings").fetchone()[0] == 0
