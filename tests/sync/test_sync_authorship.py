"""A relay stores and forwards only what it can prove (issue 14 item 1).

Reproduction: T1's events reach the relay T2 with every interior signature replaced by
random bytes (the chain and each run's last signature are genuine, so T2 stores them:
the chain proves their authorship). Before, T2 re-batched them with other boundaries and
HQ refused every batch for good.
"""

from __future__ import annotations

import base64
import os

import pytest

from sync.errors import PeerRefused
from sync.protocol import vouched

N = 30
SIGNED = (15, 30)
"""The events whose signatures T2 checked: the last of each run it received."""


async def _poisoned_relay(running):
    t1, t2 = running.log("T1"), running.log("T2")

    def write(log):
        incident = log.create(title="Crowd crush risk at gate 4", kind="crowd_density",
                              severity=5).id
        for i in range(N - 1):
            log.add_note(incident, f"update {i}")
        return [e.to_wire() for e in log.events_since({})]

    genuine = await running.call("T1", write, t1)
    tampered = [{**w, "sig": w["sig"] if w["seq"] in SIGNED
                 else base64.b64encode(os.urandom(64)).decode()} for w in genuine]
    for run in (tampered[:15], tampered[15:]):
        report = await running.call("T2", t2.apply_wire, run)
        assert (report.applied, report.rejected) == (15, [])
    return genuine


async def test_a_relay_forwards_only_runs_it_can_vouch_for(start_fleet):
    running = await start_fleet(["T1", "T2"], sync={"batch_events": 20})
    genuine = await _poisoned_relay(running)
    report = await running.session("HQ", "T2")  # HQ pulls T1's log from the relay
    assert report.rejected == []
    assert (await running.vector("HQ"))["T1"] == N
    held = await running.call("HQ", running.log("HQ").events_since, {})
    assert [e.hash for e in held if e.origin == "T1"] == [w["hash"] for w in genuine]


async def test_a_poisoned_store_heals_when_genuine_copies_arrive(start_fleet):
    running = await start_fleet(["T1", "T2"], sync={"batch_events": 20})
    genuine = await _poisoned_relay(running)
    t2 = running.log("T2")
    first = await running.call("T2", t2.events_after, "T1", 0, 20)
    assert [e.seq for e in vouched(first, t2.keyring)] == list(range(1, 16))
    report = await running.call("T2", t2.apply_wire, genuine)  # e.g. a bundle from T1
    assert (report.applied, report.duplicates, report.rejected) == (0, N, [])
    assert len(report.healed) == N - len(SIGNED)
    held = await running.call("T2", t2.events_after, "T1", 0, N)
    assert [e.sig for e in held] == [w["sig"] for w in genuine]
    assert vouched(held[:20], t2.keyring) == held[:20]


async def test_a_peer_that_refuses_whole_batches_fails_the_session(start_fleet):
    """So the scheduler backs it off instead of sending the same batch again at once."""
    running = await start_fleet(["T1", "T2"])
    await running.call("T1", lambda log: log.create(title="x", kind="medical", severity=3),
                       running.log("T1"))
    await running.session("T1", "T2")

    async def refusing_push(peer, batch):  # HQ turns every batch down
        return {"applied": 0, "duplicates": 0, "deferred": [], "vector": {},
                "rejected": [{"event": "T1:1", "reason": "bad_signature", "detail": "no"}]}

    running.engine("HQ").push = refusing_push
    with pytest.raises(PeerRefused, match=r"HQ: our batch was refused whole .* backing off"):
        await running.session("T2", "HQ")
    peers = await running.call("T2", running.log("T2").store.conn.execute(
        "SELECT last_error FROM sync_peers WHERE name = 'HQ'").fetchall)
    assert "refused whole" in peers[0][0]
