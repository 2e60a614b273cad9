"""The local API on a real node on 127.0.0.1: every route, and bad input for each."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from typing import Any

import pytest

from fieldkit import wirejson
from fieldkit.api import create_app
from fieldkit.config import load_config
from fieldkit.events import seal
from fieldkit.identity import NodeIdentity

CRUSH = {"title": "Crush at gate 3", "kind": "crowd_density", "severity": 4,
         "location": {"lat": 21.4225, "lon": 39.8726, "accuracy_m": 5}}


async def _state(http) -> tuple:
    async with http.get("/api/health") as r:
        health = await r.json()
    async with http.get("/api/incidents") as r:
        incidents = await r.json()
    return health["events"], health["incidents"], json.dumps(incidents, sort_keys=True)


async def _create(http) -> dict:
    async with http.post("/api/incidents", json=CRUSH) as r:
        assert r.status == 201
        assert r.headers["Location"].startswith("/api/incidents/")
        return await r.json()


async def test_health(http):
    async with http.get("/api/health") as r:
        body = await r.json()
    assert r.status == 200
    assert (body["status"], body["node"], body["role"]) == ("ok", "T01", "truck")
    assert body["events"] == 0


async def test_incident_lifecycle_over_http(http):
    created = await _create(http)
    path = f"/api/incidents/{created['id']}"
    steps = [
        ("POST", f"{path}/status", {"status": "acknowledged"}),
        ("POST", f"{path}/assignments", {"agency": "medical", "unit": "M-12"}),
        ("POST", f"{path}/status", {"status": "dispatched"}),
        ("POST", f"{path}/notes", {"text": "ambulance 12 on the way"}),
        ("POST", f"{path}/links", {"target": "camera", "ref": "gate3-north"}),
        ("PATCH", path, {"severity": 5, "title": "Crush at gate 3, north side"}),
        ("DELETE", f"{path}/assignments/medical/M-12", None),
    ]
    for method, url, body in steps:
        async with http.request(method, url, json=body) as r:
            assert r.status == 200, await r.text()
    async with http.get(path) as r:
        final = await r.json()
    assert (final["status"], final["severity"]) == ("dispatched", 5)
    assert final["title"] == "Crush at gate 3, north side"
    assert final["notes"][0]["text"] == "ambulance 12 on the way"
    assert final["links"] == [{"target": "camera", "ref": "gate3-north", "by": "T01",
                               "at": final["links"][0]["at"],
                               "event": final["links"][0]["event"]}]
    assert final["assigned"] == []
    async with http.get(f"{path}/events") as r:
        events = await r.json()
    assert [e["kind"] for e in events] == ["create", "status", "assign", "status", "note",
                                           "link", "set", "set", "unassign"]
    async with http.get("/api/incidents", params={"status": "dispatched"}) as r:
        assert [i["id"] for i in await r.json()] == [created["id"]]
    async with http.get("/api/incidents", params={"status": "closed"}) as r:
        assert await r.json() == []


async def test_attachment_roundtrip(http):
    created = await _create(http)
    jpeg = b"\xff\xd8\xff\xe0fake-jpeg"
    async with http.post(f"/api/incidents/{created['id']}/attachments",
                         params={"name": "snap.jpg"}, data=jpeg,
                         headers={"Content-Type": "image/jpeg"}) as r:
        attachment = (await r.json())["attachments"][0]
    async with http.get(f"/api/blobs/{attachment['blob']}") as r:
        assert (r.status, r.content_type, await r.read()) == (200, "image/jpeg", jpeg)


async def test_live_stream_delivers_and_resumes(http):
    async def first_events(headers: dict, count: int) -> list[tuple[int, dict]]:
        got = []
        async with http.get("/api/events/stream", headers=headers) as r:
            event_id = None
            async for raw in r.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("id: "):
                    event_id = int(line[4:])
                elif line.startswith("data: "):
                    got.append((event_id, json.loads(line[6:])))
                    if len(got) == count:
                        return got
        return got

    reader = asyncio.create_task(first_events({}, 2))
    created = await _create(http)
    async with http.post(f"/api/incidents/{created['id']}/notes", json={"text": "hi"}):
        pass
    got = await asyncio.wait_for(reader, 10)
    assert [e["kind"] for _, e in got] == ["create", "note"]
    # Resume after the first: only the second comes again.
    again = await asyncio.wait_for(first_events({"Last-Event-ID": str(got[0][0])}, 1), 10)
    assert again == got[1:]


BAD_REQUESTS = [
    ("POST", "/api/incidents", b"{not json", 400, "body is not valid JSON"),
    ("POST", "/api/incidents", b"[1, 2]", 400, "body must be a JSON object, got list"),
    ("POST", "/api/incidents", json.dumps({**CRUSH, "severity": "high"}).encode(), 400,
     "severity: Input should be a valid integer"),
    ("POST", "/api/incidents", json.dumps({**CRUSH, "kind": "riot"}).encode(), 400,
     "kind: Input should be"),
    ("POST", "/api/incidents", json.dumps({**CRUSH, "colour": "red"}).encode(), 400,
     "colour: unknown key"),
    ("POST", "/api/incidents", json.dumps({"title": "x"}).encode(), 400,
     "kind: missing, a value is required"),
    ("POST", "/api/incidents", b"\xff\xfe", 400, "body is not"),
    ("GET", "/api/incidents/00000000-0000-7000-8000-000000000000", None, 404, "no incident"),
    ("GET", "/api/incidents/ab", None, 400, "too short"),
    ("GET", "/api/incidents?limit=0", None, 400, "limit 0 is out of range"),
    ("GET", "/api/incidents?limit=ten", None, 400, "must be integers"),
    ("GET", "/api/incidents?min_severity=99999999999999999999", None, 400,
     "min_severity 99999999999999999999 is out of range 0..5"),
    ("GET", "/api/incidents?colour=red", None, 400, "unknown query parameter(s): colour"),
    ("GET", "/api/blobs/" + "0" * 64, None, 404, "no blob"),
    ("GET", "/api/nowhere", None, 404, "Not Found"),
    ("DELETE", "/api/incidents", None, 405, "Method Not Allowed"),
    ("GET", "/api/events/stream?after=x", None, 400, "event cursor 'x' is not an integer"),
    ("POST", "/api/events", b"{}", 400, "body must be a JSON list of events"),
    ("POST", "/api/incidents", b"[" * 100_000, 400, "nested deeper than 64 levels"),
    ("POST", "/api/events", b"[" * 100_000, 400, "nested deeper than 64 levels"),
    ("POST", "/api/events", b"[" * 900 + b"]" * 900, 400, "nested deeper than 64 levels"),
    ("GET", f"/api/events/stream?after={1 << 63}", None, 400, "out of range 0..2^63-1"),
    ("GET", "/api/events/stream?after=-1", None, 400, "out of range 0..2^63-1"),
    ("POST", "/api/incidents", b'{"title": "' + b"x" * (2 << 20) + b'"}', 413,
     "larger than the limit of 1048576 bytes"),
]


@pytest.mark.parametrize(("method", "url", "body", "status", "message"), BAD_REQUESTS,
                         ids=lambda v: repr(v)[:40] if isinstance(v, bytes) else None)
async def test_bad_requests_get_a_clear_error_and_change_nothing(http, method, url, body,
                                                                 status, message):
    await _create(http)
    before = await _state(http)
    async with http.request(method, url, data=body,
                            headers={"Content-Type": "application/json"}) as r:
        assert r.status == status
        assert message in (await r.json())["error"]
    assert await _state(http) == before


async def test_a_wrong_method_says_which_ones_the_path_takes(http):
    async with http.delete("/api/incidents") as r:
        assert r.status == 405
        assert set(r.headers["Allow"].split(",")) >= {"GET", "POST"}


@pytest.mark.parametrize(("method", "suffix", "body", "message"), [
    ("POST", "/status", {"status": "sleeping"}, "status 'sleeping' is not one of"),
    ("POST", "/status", {"status": "new"}, "is already new"),
    ("POST", "/status", {"state": "new"}, "status: missing, a value is required"),
    ("POST", "/assignments", {"agency": "army", "unit": "A1"}, "agency 'army' is not one of"),
    ("POST", "/assignments", {"agency": "police"}, "unit: missing, a value is required"),
    ("POST", "/notes", {"text": ""}, "text: String should have at least 1 character"),
    ("POST", "/notes", {"text": 5}, "text: Input should be a valid string"),
    ("POST", "/links", {"target": "moon", "ref": "x"}, "link target 'moon' is not one of"),
    ("PATCH", "", {"severity": 0}, "severity: Input should be greater than or equal to 1"),
    ("PATCH", "", {}, "body must be a JSON object of fields to set"),
    ("PATCH", "", {"id": "x"}, "cannot set id"),
    ("DELETE", "/assignments/police/P-9", None, "police unit 'P-9' is not assigned"),
    ("POST", "/attachments", None, "attachments need ?name=FILENAME"),
    ("PATCH", "", functools.reduce(lambda inner, _: {"title": inner}, range(80), {}),
     "nested deeper than 64 levels"),
])
async def test_bad_actions_get_a_clear_error_and_change_nothing(http, method, suffix, body,
                                                                message):
    created = await _create(http)
    before = await _state(http)
    async with http.request(method, f"/api/incidents/{created['id']}{suffix}", json=body) as r:
        assert r.status == 400
        assert message in (await r.json())["error"]
    assert await _state(http) == before


async def test_a_batch_of_events_is_parsed_off_the_event_loop(http, monkeypatch):
    """A fleet's batches are hundreds of KB: parsed on the store thread, not the loop that
    answers every console. (The parser is wrapped only to see which thread runs it.)"""
    threads: list[str] = []
    loads = wirejson.loads

    def watched(data: str | bytes, max_depth: int = wirejson.MAX_DEPTH) -> Any:
        threads.append(threading.current_thread().name)
        return loads(data, max_depth)

    monkeypatch.setattr(wirejson, "loads", watched)
    async with http.post("/api/events", json=[]) as r:
        assert r.status == 200
    async with http.post("/api/events", data=b"{}",
                         headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
        assert "body must be a JSON list of events" in (await r.json())["error"]
    assert len(threads) == 2
    assert all(name.startswith("fieldkit-store") for name in threads)


async def test_forged_and_unsigned_events_are_refused(http, node):
    created = await _create(http)
    async with http.get(f"/api/incidents/{created['id']}/events") as r:
        [create] = await r.json()
    stranger = NodeIdentity.generate("T99")
    foreign = seal(stranger, seq=1, hlc=create["hlc"] + 1, incident=created["id"],
                   kind="note", payload={"text": "stand down"}, prev="0" * 64).to_wire()
    unsigned = {**create, "seq": 2, "prev": create["hash"], "sig": ""}
    forged = {**create, "payload": {**create["payload"], "title": "nothing here"}}
    before = await _state(http)
    for event, reason in ((foreign, "unknown_origin"), (unsigned, "malformed"),
                          (forged, "bad_hash")):
        async with http.post("/api/events", json=[event]) as r:
            body = await r.json()
        assert r.status == 422
        assert [x["reason"] for x in body["rejected"]] == [reason]
        assert body["applied"] == 0
    assert await _state(http) == before
    async with http.get("/api/health") as r:
        assert (await r.json())["rejected"] == 3


async def test_remote_binding_requires_the_token(node_dir, aiohttp_client):
    """Bound beyond loopback, every request needs the bearer token (served here on
    127.0.0.1 by the test client: only the config says 'remote')."""
    path = node_dir / "fieldkit.toml"
    path.write_text(path.read_text().replace('host = "127.0.0.1"', 'host = "0.0.0.0"'))
    token = (node_dir / "api.token").read_text().strip()
    client = await aiohttp_client(create_app(load_config(node_dir)))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
        r = await client.get("/api/health", headers=headers)
        assert r.status == 401
        body = await r.text()
        assert "missing or wrong bearer token" in body
        assert token not in body
    r = await client.get("/api/health", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200
