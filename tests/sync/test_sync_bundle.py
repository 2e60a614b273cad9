"""Bundle files through the real CLI: export, import, idempotence, damage."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from click.testing import CliRunner
from syncfleet import make_fleet, open_node_log

from fieldkit.cli import main
from sync.bundle import scan


@pytest.fixture
def fleet(tmp_path):
    fleet = make_fleet(tmp_path, ["T1", "T2"])
    with open_node_log(fleet.config("T1")) as (log, _):
        for i in range(30):
            incident = log.create(title=f"incident {i}", kind="medical", severity=1 + i % 5)
            log.add_note(incident.id, "crew on the way")
        log.attach(incident.id, b"\x89PNG fake snapshot", "snap.png", "image/png")
    return fleet


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _events(fleet, name):
    with open_node_log(fleet.config(name)) as (log, _):
        return sorted((e.origin, e.seq, e.hash) for e in log.events_since({}))


def test_export_import_round_trip_is_idempotent(fleet, tmp_path):
    bundle = tmp_path / "t1.fkb"
    out = run("sync", "export", "-o", bundle, "--dir", fleet.dirs["T1"])
    assert out.exit_code == 0, out.output
    assert "wrote" in out.output
    assert "61 events, 1 blobs" in out.output
    first = run("sync", "import", bundle, "--dir", fleet.dirs["T2"])
    assert first.exit_code == 0, first.output
    assert "bundle from T1 (signature valid): 61 new events, 0 already held" in first.output
    assert _events(fleet, "T2") == _events(fleet, "T1")
    again = run("sync", "import", bundle, "--dir", fleet.dirs["T2"])
    assert again.exit_code == 0
    assert "0 new events, 61 already held" in again.output
    with open_node_log(fleet.config("T2")) as (log, _):
        assert log.missing_blobs() == []


def test_export_since_a_vector(fleet, tmp_path):
    bundle = tmp_path / "t1.fkb"
    assert run("sync", "export", "-o", bundle, "--since", "T1=50",
               "--dir", fleet.dirs["T1"]).exit_code == 0
    out = run("sync", "import", bundle, "--dir", fleet.dirs["T2"])
    # T2 lacks T1:1..50, so the 11 events after them wait (deferred), none are stored.
    assert "0 new events, 0 already held, 11 waiting for earlier events" in out.output
    assert _events(fleet, "T2") == []


def test_export_for_a_peer_uses_scope(fleet, tmp_path):
    bundle = tmp_path / "hq-for-t2.fkb"
    assert run("sync", "import", _export(fleet, tmp_path, "T1"),
               "--dir", fleet.dirs["HQ"]).exit_code == 0
    out = run("sync", "export", "--for", "T2", "-o", bundle, "--dir", fleet.dirs["HQ"])
    assert "no contact with T2 yet" in out.output
    assert "0 events" in out.output  # T1's log is not in T2's scope from HQ


def _export(fleet, tmp_path, name):
    bundle = tmp_path / f"{name}.fkb"
    assert run("sync", "export", "-o", bundle, "--dir", fleet.dirs[name]).exit_code == 0
    return bundle


@pytest.mark.parametrize("cut", [10, 200, 1000, -300, -1])
def test_truncated_bundle_imports_only_verified_events(fleet, tmp_path, cut):
    data = _export(fleet, tmp_path, "T1").read_bytes()
    damaged = tmp_path / "cut.fkb"
    damaged.write_bytes(data[:cut])
    out = run("sync", "import", damaged, "--dir", fleet.dirs["T2"])
    assert out.exit_code == 1
    assert "is truncated" in out.output or "truncated at byte" in out.output
    mine = dict(((o, s), h) for o, s, h in _events(fleet, "T1"))
    held = _events(fleet, "T2")
    assert all(mine[(o, s)] == h for o, s, h in held)  # nothing wrong came in
    seqs = [s for _, s, _ in held]
    assert seqs == list(range(1, len(seqs) + 1))  # and no holes


def test_corrupted_frame_is_named_and_skipped(fleet, tmp_path):
    data = bytearray(_export(fleet, tmp_path, "T1").read_bytes())
    first_events = next(f for f in scan(bytes(data))[0] if f.kind == b"E")
    data[first_events.offset + 40] ^= 0xFF  # inside the first (only) events frame
    out = _import_damaged(fleet, tmp_path, bytes(data))
    assert "fails its CRC check and was skipped" in out
    assert "corrupted at byte" in out


def _import_damaged(fleet, tmp_path, data: bytes) -> str:
    """Import ``data`` on T2: it must fail (exit 1) and write nothing. Returns the output."""
    damaged = tmp_path / "damaged.fkb"
    damaged.write_bytes(data)
    out = run("sync", "import", damaged, "--dir", fleet.dirs["T2"])
    assert out.exit_code == 1
    assert _events(fleet, "T2") == []
    return out.output


def test_deeply_nested_frames_are_refused_cleanly(fleet, tmp_path):
    """A frame whose JSON nests 100,000 deep: a named problem, not a RecursionError."""
    data = _export(fleet, tmp_path, "T1").read_bytes()
    frames = scan(data)[0]
    header = next(f for f in frames if f.kind == b"H")
    events = next(f for f in frames if f.kind == b"E")
    nest = b"[" * 100_000
    batch = b"FKB1" + zlib.compress(struct.pack(">I", len(nest)) + nest)
    forged = bytearray(data[:header.offset])
    for kind, payload in ((b"H", nest), (b"E", batch)):
        forged += struct.pack(">cII", kind, len(payload), zlib.crc32(payload)) + payload
    forged += data[events.offset + 9 + len(events.payload):]
    out = _import_damaged(fleet, tmp_path, bytes(forged))
    assert "the header is not valid" in out
    assert "batch header is not JSON: nested deeper than 64 levels" in out


def test_not_a_bundle(fleet, tmp_path):
    junk = tmp_path / "junk.fkb"
    junk.write_text("hello")
    out = run("sync", "import", junk, "--dir", fleet.dirs["T2"])
    assert out.exit_code == 1
    assert "not a fieldkit bundle" in out.output


def test_roster_commands(fleet, tmp_path):
    shown = run("sync", "roster", "show", "--json", "--dir", fleet.dirs["HQ"])
    roster = json.loads(shown.stdout)
    assert sorted(roster["nodes"]) == ["HQ", "T1", "T2"]
    out = run("sync", "roster", "revoke", "T2", "--dir", fleet.dirs["HQ"])
    assert out.output.strip() == "roster version 2: T2 revoked"
    path = tmp_path / "roster.json"
    path.write_text(run("sync", "roster", "show", "--json", "--dir", fleet.dirs["HQ"]).stdout)
    out = run("sync", "roster", "import", path, "--dir", fleet.dirs["T1"])
    assert out.output.strip() == "roster version 2 adopted"
    out = run("sync", "roster", "add", "T3", "AAAA", "--dir", fleet.dirs["T1"])
    assert out.exit_code == 1
    denied = run("sync", "roster", "revoke", "T1", "--dir", fleet.dirs["T1"])
    assert "only HQ (HQ) can issue the roster" in denied.output


def test_a_bundle_carries_a_newer_roster(fleet, tmp_path):
    assert run("sync", "roster", "revoke", "T2", "--dir", fleet.dirs["HQ"]).exit_code == 0
    bundle = _export(fleet, tmp_path, "HQ")
    out = run("sync", "import", bundle, "--dir", fleet.dirs["T1"])
    assert out.exit_code == 0, out.output
    assert "roster: adopted v2" in out.stdout
    shown = run("sync", "roster", "show", "--dir", fleet.dirs["T1"]).stdout
    assert "T2           truck" in shown
    assert "revoked" in shown


def test_a_snapshot_expired_here_is_not_taken_back_from_a_bundle(fleet, tmp_path):
    from fieldkit.alerts import Alert, Snapshot, raise_or_update
    from fieldkit.hlc import wall_ms
    from fieldkit.retention import DAY_MS, expire_snapshots

    with open_node_log(fleet.config("T1")) as (log, _):
        snap = raise_or_update(log, Alert("camera:gate3", "density:ramp", "Dense crowd",
                                          "crowd_density", 4, "analytics"),
                               snapshot=Snapshot(b"\xff\xd8 a crowd", "gate3-1.jpg")).incident
        log.set_status(snap.id, "closed")
    bundle = tmp_path / "t1.fkb"
    assert run("sync", "export", "-o", bundle, "--dir", fleet.dirs["T1"]).exit_code == 0
    assert "2 blobs" in run("sync", "import", bundle, "--dir", fleet.dirs["T2"]).output
    with open_node_log(fleet.config("T2")) as (log, _):
        assert expire_snapshots(log, 7, wall_ms() + 30 * DAY_MS).blobs == 1
    again = run("sync", "import", bundle, "--dir", fleet.dirs["T2"])
    assert "0 blobs" in again.output, again.output
    with open_node_log(fleet.config("T2")) as (log, _):
        assert log.get(snap.id).attachments[0].expired_at is not None
        assert log.missing_blobs() == []
    with open_node_log(fleet.config("T1")) as (log, _):  # T1 expires by its own clock
        log.blob(log.get(snap.id).attachments[0].blob)
