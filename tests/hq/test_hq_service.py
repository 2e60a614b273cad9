"""The HQ routes on a real node (127.0.0.1): calls over HTTP (bearer token beyond
loopback), the fleet picture, and the `fieldkit call` commands."""

from __future__ import annotations

import logging

import aiohttp
from click.testing import CliRunner
from hqhelp import LAT0, LON0, FixedClock, offset

from fieldkit.api import create_app
from fieldkit.cli import main
from fieldkit.hq.fleet import fleet_picture
from fieldkit.hq.service import install_hq
from fieldkit.identity import NodeIdentity

NUMBER = "+966 55 765 4321"
CALL = {"location": {"lat": LAT0, "lon": LON0}, "kind": "medical",
        "description": "man collapsed by the water point", "callback": NUMBER, "severity": 4}


async def test_a_call_over_http(node, caplog):
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession(node.url) as http:
        response = await http.post("/api/calls", json=CALL)
        body = await response.text()
        assert response.status == 201, body
        assert NUMBER not in body
        data = await response.json()
        assert data["merged"] is False
        assert response.headers["Location"] == f"/api/incidents/{data['incident']['id']}"
        assert data["incident"]["source"] == "call"

        bad = await http.post("/api/calls", json={**CALL, "callback": "not-a-number!",
                                                  "kind": "riot"})
        assert bad.status == 400
        error = (await bad.json())["error"]
        assert error.startswith("call refused: kind: Input should be 'crowd_density'")
        assert "; callback: not a phone number" in error
        assert "not-a-number" not in error
        json_type = {"Content-Type": "application/json"}
        for body, status, message in ((b"{nope", 400, "body is not valid JSON"),
                                      (b"[" * 100_000, 400, "nested deeper than 64 levels")):
            garbage = await http.post("/api/calls", data=body, headers=json_type)
            assert garbage.status == status
            assert message in (await garbage.json())["error"]
        plain = await http.post("/api/calls", data=b"{}", headers={"Content-Type": "text/plain"})
        assert plain.status == 415
        # The analytics incident about the same situation takes the second call.
        lat, lon = offset(25, 10)
        seen = await (await http.post("/api/incidents", json={
            "title": "Person down at water point", "kind": "person_down", "severity": 3,
            "source": "analytics", "location": {"lat": lat, "lon": lon}})).json()
        merged = await http.post("/api/calls", json={**CALL, "severity": 3})
        assert merged.status == 200
        data = await merged.json()
        assert data["merged"] is True
        assert data["incident"]["id"] == seen["id"]
        listed = await (await http.get("/api/incidents")).json()
        assert len(listed) == 2
    assert NUMBER not in caplog.text


async def test_beyond_loopback_a_call_needs_the_token(config, aiohttp_client):
    token = (config.path(config.api.token_file)).read_text().strip()
    exposed = config.model_copy(update={"api": config.api.model_copy(
        update={"host": "0.0.0.0"})})
    client = await aiohttp_client(create_app(exposed, [install_hq]))
    refused = await client.post("/api/calls", json=CALL)
    assert refused.status == 401
    assert (await refused.json())["error"] == "missing or wrong bearer token"
    taken = await client.post("/api/calls", json=CALL,
                              headers={"Authorization": f"Bearer {token}"})
    assert taken.status == 201


def test_the_fleet_picture_from_synced_logs(make_log):
    t01, hq_id = NodeIdentity.generate("T01"), NodeIdentity.generate("HQ")
    clock = FixedClock()
    truck = make_log(t01, hq_id, clock=clock)
    hq = make_log(hq_id, t01, clock=clock)
    crush = truck.create(title="Crush", kind="crowd_density", severity=4, source="analytics",
                         location={"camera": "gate3", "zone": "ramp3"})
    truck.link(crush.id, "camera", "gate3")
    truck.create(title="Camera gate4 frozen", kind="camera_fault", severity=2,
                 source="analytics", location={"camera": "gate4"})
    lost = truck.create(title="Drone D1: telemetry link lost", kind="drone", severity=3,
                        source="drone", location={"zone": "air"})
    truck.link(lost.id, "drone", "D1")
    done = truck.create(title="old", kind="other", severity=1, location={"zone": "x"})
    truck.set_status(done.id, "closed")
    hq.create(title="HQ's own", kind="other", severity=2, location={"zone": "hq"})
    report = hq.apply([e for _, e in truck.feed(limit=1000)])
    assert not report.rejected
    with hq.store.write() as conn:
        conn.execute("INSERT INTO sync_peers (name, url, last_contact) VALUES (?, ?, ?)",
                     ["T01", "http://127.0.0.1:1", clock.now - 4000])
    clock.advance(10)
    picture = fleet_picture(hq, "HQ", clock.now)
    assert [n["node"] for n in picture["nodes"]] == ["HQ", "T01"]
    hq_row, t01_row = picture["nodes"]
    assert hq_row["self"]
    assert hq_row["open_incidents"] == 1
    assert t01_row["last_sync_s_ago"] == 14.0
    assert t01_row["last_event_s_ago"] == 10.0
    assert t01_row["open_incidents"] == 3
    assert t01_row["cameras"]["gate3"]["down"] is False
    assert t01_row["cameras"]["gate4"] == {"last_seen_s_ago": None, "down": True,
                                           "alert": "Camera gate4 frozen"}
    assert t01_row["drones"]["D1"]["down"] is True


async def test_fleet_route(node):
    async with aiohttp.ClientSession(node.url) as http:
        await http.post("/api/incidents", json={"title": "x", "kind": "fire", "severity": 3})
        picture = await (await http.get("/api/hq/fleet")).json()
    assert picture["node"] == "T01"
    assert picture["nodes"][0]["node"] == "T01"
    assert picture["nodes"][0]["open_incidents"] == 1
    assert picture["live"] == {"cameras": {}, "drones": []}


def test_call_commands(node_dir):
    runner = CliRunner()
    env = {"FIELDKIT_DIR": str(node_dir)}
    result = runner.invoke(main, ["call", "add", "--kind", "fire", "--description",
                                  "smoke from tent 114", "--callback", NUMBER,
                                  "--lat", str(LAT0), "--lon", str(LON0)], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("opened incident ")
    assert lines[0].endswith(
        "(Call: fire, severity 3)")
    assert lines[1:] == ["  cameras     none covers the place", "  drone       none live",
                         "  callback    kept on this node only (`fieldkit call contact`)"]
    incident_id = lines[0].split()[2]
    shown = runner.invoke(main, ["call", "contact", incident_id[-8:]], env=env)
    assert shown.exit_code == 0
    assert shown.output.strip().endswith(NUMBER)
    listed = runner.invoke(main, ["incident", "show", incident_id, "--json"], env=env)
    assert NUMBER not in listed.output
    bad = runner.invoke(main, ["call", "add", "--kind", "fire", "--description", "x",
                               "--callback", "abc", "--zone", "B"], env=env)
    assert bad.exit_code == 1
    assert bad.output.startswith("Error: call refused: callback: not a phone number")
