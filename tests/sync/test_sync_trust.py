"""Trust: signed requests against the HQ-signed roster; refusals write nothing."""

from __future__ import annotations

import json

import pytest

from fieldkit.identity import NodeIdentity
from sync.auth import NONCE, sign_request
from sync.errors import AuthError, PeerRefused, RosterError
from sync.http import HttpTransport
from sync.roster import Roster, RosterEntry, adopt, issue_update


def _create(log, n):
    return [log.create(title=f"event {i}", kind="medical", severity=2).id for i in range(n)]


async def _post(running, server, headers, body=b"{}", path="/sync/v1/hello"):
    async with running.http.post(running.nodes[server].url + path, data=body,
                                 headers=headers) as response:
        return response.status, (await response.json()).get("error")


async def _stats(running, name):
    return await running.call(name, running.log(name).stats)


async def test_unsigned_request_is_401(start_fleet):
    running = await start_fleet(["T1"])
    status, error = await _post(running, "HQ", {})
    assert status == 401
    assert error.startswith("sync request is not signed")


async def test_unknown_node_is_403_and_nothing_written(start_fleet):
    running = await start_fleet(["T1"])
    stranger = NodeIdentity.generate("X9")
    body = json.dumps({"vector": {}, "roster_version": 0, "roster": None}).encode()
    headers = sign_request(stranger, "POST", "/sync/v1/hello", "HQ", body)
    status, error = await _post(running, "HQ", headers, body)
    assert (status, error) == (403, "node X9 is not in the fleet roster or trusted keys")
    rows = running.log("HQ").store.conn.execute("SELECT count(*) FROM sync_peers").fetchone()
    assert rows[0] == 0


async def test_impersonation_is_401(start_fleet):
    running = await start_fleet(["T1"])
    forger = NodeIdentity.generate("T1")  # claims T1's name with another key
    transport = HttpTransport(running.http, running.nodes["HQ"].url, "HQ", forger,
                              running.engine("T1").trust)
    with pytest.raises(AuthError) as caught:
        await transport.push(b"FKB1")
    assert caught.value.status == 401
    assert "signature does not match node T1's key" in str(caught.value)
    assert (await _stats(running, "HQ"))["events"] == 0


async def test_replayed_request_is_401(start_fleet):
    running = await start_fleet(["T1"])
    t1 = running.engine("T1").trust.identity
    body = json.dumps({"vector": {}, "roster_version": 0, "roster": None}).encode()
    headers = sign_request(t1, "POST", "/sync/v1/hello", "HQ", body)
    assert await _post(running, "HQ", headers, body) == (200, None)
    status, error = await _post(running, "HQ", headers, body)
    assert (status, error) == (401, "request replayed: its nonce was already used")


async def test_request_for_another_node_is_401(start_fleet):
    running = await start_fleet(["T1", "T2"])
    t1 = running.engine("T1").trust.identity
    body = b"{}"
    headers = sign_request(t1, "POST", "/sync/v1/hello", "T2", body)  # meant for T2
    status, error = await _post(running, "HQ", headers, body)
    assert status == 401
    assert error == "signature does not match node T1's key for a request to HQ"


async def test_stale_request_is_401(start_fleet):
    running = await start_fleet(["T1"])
    t1 = running.engine("T1").trust.identity
    headers = sign_request(t1, "POST", "/sync/v1/hello", "HQ", b"{}", now_ms=1_000)
    status, error = await _post(running, "HQ", headers)
    assert status == 401
    assert error.startswith("request time is ")
    assert NONCE in headers


async def test_server_must_prove_who_it_is(start_fleet):
    running = await start_fleet(["T1", "T2"])
    # T1 believes it talks to T2, but the URL is HQ's: HQ signs as HQ, and T1 refuses.
    transport = HttpTransport(running.http, running.nodes["HQ"].url, "T2",
                              running.engine("T1").trust.identity, running.engine("T1").trust)
    with pytest.raises(AuthError):
        await transport.hello({"vector": {}, "roster_version": 0, "roster": None})


async def test_revocation_spreads_by_sync_and_locks_the_node_out(start_fleet):
    running = await start_fleet(["T1", "T2"])
    hq = running.engine("HQ")
    await running.call("T2", _create, running.log("T2"), 2)
    entry = hq.trust.roster.nodes["T2"]
    revoked = RosterEntry(entry.key, "truck", revoked=True)
    roster = await running.call("HQ", issue_update, running.log("HQ"), hq.trust, {"T2": revoked})
    assert roster.version == 2
    report = await running.session("T1", "HQ")
    assert report.roster == "received v2"
    assert running.engine("T1").trust.status("T2") == "revoked"
    with pytest.raises(AuthError) as caught:
        await running.session("T2", "T1")
    assert caught.value.status == 403
    assert "node T2 is revoked" in str(caught.value)
    assert (await _stats(running, "T1"))["origins"].get("T2") is None
    # Its events are refused even when someone else relays them.
    t2_events = await running.call("T2", running.log("T2").events_since, {})
    applied = await running.call("T1", running.log("T1").apply, t2_events)
    assert {r.reason for r in applied.rejected} == {"unknown_origin"}


async def test_roster_not_signed_by_hq_is_refused(start_fleet):
    running = await start_fleet(["T1"])
    t1 = running.engine("T1")
    fake_hq = NodeIdentity.generate("HQ")
    forged = Roster.issue(fake_hq, 99, {"T1": RosterEntry(t1.trust.identity.public_key_b64,
                                                           "truck")})
    with pytest.raises(RosterError, match="not signed by HQ's key"):
        await running.call("T1", adopt, running.log("T1"), t1.trust, forged)
    assert t1.trust.roster_version == 1


async def test_a_truck_cannot_issue_the_roster(start_fleet):
    running = await start_fleet(["T1"])
    t1 = running.engine("T1")
    with pytest.raises(RosterError, match="only HQ"):
        await running.call("T1", issue_update, running.log("T1"), t1.trust, {})


async def test_a_revoked_origin_is_not_offered_again_and_does_not_block(start_fleet):
    running = await start_fleet(["T1", "T2", "T3"])
    await running.call("T2", _create, running.log("T2"), 3)
    await running.call("T3", _create, running.log("T3"), 2)
    await running.session("T2", "T3")  # T3 relays T2's log from now on
    hq = running.engine("HQ")
    entry = hq.trust.roster.nodes["T2"]
    await running.call("HQ", issue_update, running.log("HQ"), hq.trust,
                       {"T2": RosterEntry(entry.key, "truck", revoked=True)})
    await running.session("T1", "HQ")  # T1 learns of the revocation
    report = await running.session("T1", "T3")
    assert report.rejected == []  # T3 did not even offer T2's events
    assert await running.vector("T1") == {"T3": 2}
    assert report.roster == "sent v2"
    assert running.engine("T3").trust.status("T2") == "revoked"


async def test_malformed_payloads_are_400_and_change_nothing(start_fleet):
    running = await start_fleet(["T1"])
    transport = running.transport("T1", "HQ")
    with pytest.raises(PeerRefused) as caught:
        await transport.push(b"not a batch")
    assert caught.value.status == 400
    assert str(caught.value) == ("HQ answered 400: batch does not start with FKB1: "
                                 "not a fieldkit event batch")
    with pytest.raises(PeerRefused, match=r"pull vector: .T1. -> -1 is not origin -> seq >= 0"):
        await transport.pull({"T1": -1}, 10, [])
    with pytest.raises(PeerRefused, match="hello must be a JSON object"):
        await transport._json("POST", "/hello", [1, 2])
    # Nesting beyond the stack: still a signed 400, not an unsigned 500.
    with pytest.raises(PeerRefused, match="HQ answered 400: body is not JSON: nested deeper"):
        await transport._request("POST", "/pull", b"[" * 100_000)
    assert (await _stats(running, "HQ"))["events"] == 0


async def test_fleet_wide_origin_reaches_every_truck_from_hq(start_fleet):
    running = await start_fleet(["T1", "T2"])
    await running.call("T1", _create, running.log("T1"), 2)
    await running.session("T1", "HQ")
    hq = running.engine("HQ")
    entry = hq.trust.roster.nodes["T1"]
    await running.call("HQ", issue_update, running.log("HQ"), hq.trust,
                       {"T1": RosterEntry(entry.key, "truck", fleet_wide=True)})
    report = await running.session("T2", "HQ")
    assert report.pulled == 2
    assert await running.vector("T2") == {"T1": 2}


def test_discovery_must_name_one_interface(tmp_path):
    from fieldkit.config import validate_config
    from fieldkit.errors import ConfigError

    base = {"node": {"name": "T1", "role": "truck"}}
    with pytest.raises(ConfigError, match=r"0\.0\.0\.0 would use every interface"):
        validate_config({**base, "sync": {"discovery_interface": "0.0.0.0"}}, tmp_path)
    with pytest.raises(ConfigError, match=r"sync -> hq_url is set, so sync\.hq"):
        validate_config({**base, "sync": {"hq_url": "http://127.0.0.1:1"}}, tmp_path)
