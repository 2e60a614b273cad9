"""A web page must not drive the loopback API: DNS rebinding, cross-site writes, non-JSON
bodies; WHIP answers CORS for other origins. Against a real node on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

CRUSH = {"title": "Crush at gate 3", "kind": "crowd_density", "severity": 4,
         "location": {"zone": "gate3"}}


async def _incidents(http) -> int:
    async with http.get("/api/health") as r:
        return int((await r.json())["incidents"])


@pytest.mark.parametrize(("headers", "status", "message"), [
    ({"Host": "evil.example:8470"}, 403, "'evil.example:8470' is not this node's address"),
    ({"Origin": "http://evil.example"}, 403, "write from another web origin"),
    ({"Sec-Fetch-Site": "cross-site"}, 403, "write from another web origin"),
    ({"Content-Type": "text/plain"}, 415, "body must be application/json, not text/plain"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "not application/x-www"),
])
async def test_browser_attacks_are_refused_and_change_nothing(http, headers, status, message):
    """The probe of issue 14 item 2: each got 201 before."""
    before = await _incidents(http)
    async with http.post("/api/incidents", data=json.dumps(CRUSH).encode(),
                         headers={"Content-Type": "application/json", **headers}) as r:
        assert r.status == status
        assert message in (await r.json())["error"]
    assert await _incidents(http) == before


async def test_rebinding_is_refused_for_reads_too(http):
    async with http.get("/api/incidents", headers={"Host": "attacker.test"}) as r:
        assert r.status == 403


async def test_same_origin_pages_and_plain_clients_still_write(http, node):
    own = f"http://127.0.0.1:{node.port}"
    for headers in ({}, {"Origin": own, "Sec-Fetch-Site": "same-origin"},
                    {"Host": f"localhost:{node.port}"}):
        async with http.post("/api/incidents", json=CRUSH, headers=headers) as r:
            assert r.status == 201, await r.text()


async def test_whip_preflight_allows_other_origins_and_exposes_location(http):
    async with http.options("/whip", headers={
            "Origin": "https://pilot.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"}) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
        assert "Location" in r.headers["Access-Control-Expose-Headers"]
    # A cross-origin offer reaches WHIP's own token check (not the API's origin guard),
    # and its answer is readable by the other origin.
    async with http.post("/whip", data=b"v=0\r\n", headers={
            "Origin": "https://pilot.example", "Content-Type": "application/sdp",
            "Authorization": "Bearer not-a-pilot-token"}) as r:
        assert r.status == 403
        assert "not allowed to publish" in (await r.json())["error"]
        assert r.headers["Access-Control-Allow-Origin"] == "*"
