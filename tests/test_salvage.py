"""Reading what a damaged database still holds, without writing to it."""

from __future__ import annotations

import sqlite3

from damage import damage_a_page

from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.salvage import MIN_ROW_BYTES, PROBE_PAST, _rows, salvage
from fieldkit.store import Store


def _fill(path, identity: NodeIdentity) -> None:
    with Store(path) as store:
        log = IncidentLog(store, identity, Keyring.from_names(identity, {}))
        for i in range(200):
            made = log.create(title=f"incident {i}", kind="medical", severity=3)
        log.attach(made.id, b"snapshot bytes", "snap.jpg", "image/jpeg")
        with store.write() as conn:
            conn.execute("INSERT INTO call_contacts (incident, received_at, callback, merged)"
                         " VALUES (?, 0, '+100', 0)", [made.id])


def test_a_damaged_page_loses_only_its_rows(tmp_path):
    identity = NodeIdentity.generate("T1")
    path = tmp_path / "fieldkit.db"
    _fill(path, identity)
    damage_a_page(path, "events")
    damaged = path.read_bytes()

    found = salvage(path, tmp_path / "scratch")

    assert found.integrity != "ok"
    assert found.unreadable > 0
    assert len(found.events) + found.unreadable == 201
    assert found.seen_seq == {"T1": 201}  # the newest events read, and the states name them
    assert [(sha[:8], mime) for sha, mime, _ in found.blobs] == [("ee36ef81", "image/jpeg")]
    assert found.local["call_contacts"] == 1
    assert path.read_bytes() == damaged  # read through a copy, which is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fieldkit.db", "fieldkit.db.lock"]


def test_an_intact_database_is_only_checked(tmp_path):
    identity = NodeIdentity.generate("T1")
    path = tmp_path / "fieldkit.db"
    _fill(path, identity)
    found = salvage(path, tmp_path / "scratch")
    assert (found.integrity, found.events) == ("ok", [])


def test_a_missing_database_says_so(tmp_path):
    assert salvage(tmp_path / "fieldkit.db", tmp_path / "scratch").integrity == "missing"


def test_a_last_rowid_the_file_cannot_hold_is_not_walked_to(tmp_path):
    """A damaged last page can report a garbage max(rowid) (CI once met 235,850,216 for
    199 events, and recover looked up every rowid up to it for hours). A file of N bytes
    holds at most N / MIN_ROW_BYTES rows, so such an end is probed past, as an unreadable
    one is, and the reading ends."""
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE events (doc TEXT)")
    conn.executemany("INSERT INTO events (rowid, doc) VALUES (?, ?)",
                     [(i, "x" * MIN_ROW_BYTES) for i in range(1, 51)])
    conn.execute("INSERT INTO events (rowid, doc) VALUES (10000000, 'garbage')")
    statements = []
    conn.set_trace_callback(statements.append)
    rows = list(_rows(conn, "events", "doc", None))
    conn.close()
    assert len(rows) == 50
    assert len(statements) < PROBE_PAST + 1000  # not ten million lookups
