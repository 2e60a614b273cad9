"""A tampering relay: truck T2 carries T1's log to HQ and changes it on the way.

Each attack is made on the encoded batch the relay serves (what a malicious node would
send), and HQ, the receiver, must detect it: nothing from the tampered point on is
stored, the rejection is counted, and an honest path later delivers T1's true log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib

import pytest

from fieldkit.identity import NodeIdentity
from sync.protocol import MAGIC, encode_batch

N = 8


def _split(batch: bytes):
    raw = zlib.decompress(batch[len(MAGIC):])
    (size,) = struct.unpack(">I", raw[:4])
    header = json.loads(raw[4:4 + size])
    # per event: signature (64 bytes) + hash (32 bytes)
    sigs = [raw[4 + size + i:4 + size + i + 96] for i in range(0, len(raw) - 4 - size, 96)]
    return header, sigs


def _join(header, sigs) -> bytes:
    body = json.dumps(header).encode()
    return MAGIC + zlib.compress(struct.pack(">I", len(body)) + body + b"".join(sigs))


def _t1_run(header):
    return next(r for r in header["runs"] if r["o"] == "T1")


def alter(header, sigs):
    run = _t1_run(header)
    run["e"][3][3] = {**run["e"][3][3], "text": "nothing to see here"}
    return header, sigs


def forge(header, sigs):
    run = _t1_run(header)
    forger = NodeIdentity.generate("T1")
    run["e"].append([1, run["e"][0][1], "note", {"text": "all clear, stand down"}])
    run["n"] += 1
    index = sum(r["n"] for r in header["runs"][:header["runs"].index(run) + 1]) - 1
    sigs.insert(index, forger.sign(b"whatever") + hashlib.sha256(b"forged").digest())
    return header, sigs


def reorder(header, sigs):
    run = _t1_run(header)
    start = sum(r["n"] for r in header["runs"][:header["runs"].index(run)])
    run["e"][2], run["e"][3] = run["e"][3], run["e"][2]
    sigs[start + 2], sigs[start + 3] = sigs[start + 3], sigs[start + 2]
    return header, sigs


def drop_middle(header, sigs):
    run = _t1_run(header)
    start = sum(r["n"] for r in header["runs"][:header["runs"].index(run)])
    del run["e"][3]
    del sigs[start + 3]
    run["n"] -= 1
    return header, sigs


def drop_middle_keep_chain(header, sigs):
    """Drop event 4 and restart the chain after it with the true prev: a visible gap."""
    run = _t1_run(header)
    start = sum(r["n"] for r in header["runs"][:header["runs"].index(run)])
    first, rest = run["e"][:3], run["e"][4:]
    run["e"], run["n"] = first, 3
    header["runs"].append({"o": "T1", "s": run["s"] + 4, "p": "f" * 64, "n": len(rest),
                           "e": rest})
    del sigs[start + 3]
    return header, sigs


@pytest.mark.parametrize("attack", [alter, forge, reorder, drop_middle,
                                    drop_middle_keep_chain])
async def test_receiver_detects_a_tampering_relay(start_fleet, attack):
    running = await start_fleet(["T1", "T2"])
    t1 = running.log("T1")

    def write(log):
        incident = log.create(title="Crowd crush risk at gate 4", kind="crowd_density",
                              severity=5).id
        for i in range(N - 1):
            log.add_note(incident, f"update {i}")

    await running.call("T1", write, t1)
    await running.session("T1", "T2")  # T2 now relays T1's log
    relay = running.engine("T2")
    honest_pull = relay.pull

    async def tampered_pull(peer, body):
        batch = await honest_pull(peer, body)
        header, sigs = _split(batch)
        if not header["runs"] or _t1_run(header)["n"] < N:
            return encode_batch([])  # what it cannot tamper with, it withholds
        return _join(*attack(header, sigs))

    relay.pull = tampered_pull  # T2 turns bad
    report = await running.session("HQ", "T2")
    held = (await running.vector("HQ")).get("T1", 0)
    if attack is forge:
        assert held == N, "the true events before the forgery are kept; the forgery is not"
    else:
        assert held <= 3, "nothing from the tampered point on may be stored"
    true = {e.seq: e.hash for e in await running.call("T1", t1.events_since, {})}
    stored = await running.call("HQ", running.log("HQ").events_since, {})
    assert all(true[e.seq] == e.hash for e in stored if e.origin == "T1")
    if attack is not drop_middle_keep_chain:
        assert report.rejected, "the receiver must say what it refused"
        reasons = {r["reason"] for r in await running.call("HQ", running.log("HQ").rejections)}
        assert reasons & {"bad_signature", "broken_chain", "bad_hash", "fork"}
    # T1's true log still arrives by an honest path, complete and unaltered.
    relay.pull = honest_pull
    await running.session("T1", "HQ")
    assert (await running.vector("HQ"))["T1"] == N
    stored = await running.call("HQ", running.log("HQ").events_since, {})
    assert {e.seq: e.hash for e in stored if e.origin == "T1"} == true


async def test_relay_cannot_alter_signature_bytes(start_fleet):
    running = await start_fleet(["T1", "T2"])
    await running.call("T1", lambda log: log.create(title="x", kind="medical", severity=3),
                       running.log("T1"))
    await running.session("T1", "T2")
    events = await running.call("T2", running.log("T2").events_since, {})
    wire = [e.to_wire() for e in events]
    wire[0]["sig"] = base64.b64encode(b"\x00" * 64).decode()
    report = await running.call("HQ", running.log("HQ").apply_wire, wire)
    assert [r.reason for r in report.rejected] == ["bad_signature"]
