"""The SQLite store: WAL, migrations forward, refusal of newer databases."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from collections.abc import Callable

import pytest
import sqlite_utils

from fieldkit.errors import SchemaTooNewError, StoreError
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.schema import MIGRATION_NAMES, MIGRATIONS
from fieldkit.store import Store
from fieldkit.storeapi import LogStore
from fieldkit.view import event_to_row


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_database_is_wal_with_every_migration(tmp_path):
    with Store(tmp_path / "node.db") as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        applied = [m.name for m in MIGRATIONS.applied(store.db)]
        assert applied == MIGRATION_NAMES
        assert store.integrity_check() == "ok"


def test_an_older_database_is_migrated_on_open_and_keeps_its_events(tmp_path):
    """A database from the first release (events only) gains the folded view."""
    identity = NodeIdentity.generate("T01")
    with Store(tmp_path / "source.db") as store:
        log = IncidentLog(store, identity, Keyring.from_names(identity, {}))
        incident = log.create(title="Lost child", kind="lost_person", severity=2)
        log.add_note(incident.id, "wearing a red cap")
        rows = [event_to_row(e) for _, e in log.feed()]

    old = tmp_path / "old.db"
    db = sqlite_utils.Database(old)
    MIGRATIONS.apply(db, stop_before=MIGRATION_NAMES[1])
    db.conn.executemany(
        "INSERT INTO events (origin, seq, hlc, incident, kind, payload, prev, hash, sig)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.conn.commit()
    db.close()

    with Store(old) as store:
        assert [m.name for m in MIGRATIONS.applied(store.db)] == MIGRATION_NAMES
        log = IncidentLog(store, identity, Keyring.from_names(identity, {}))
        migrated = log.get(incident.id)
        assert migrated.notes[0].text == "wearing a red cap"
        assert store.integrity_check() == "ok"


def test_a_database_from_a_newer_fieldkit_is_refused_untouched(tmp_path):
    path = tmp_path / "node.db"
    with Store(path) as store:
        store.conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
            " VALUES ('fieldkit', 'm999_from_the_future', '2030-01-01')")
    # A clean close leaves a single file: nothing may appear or change beside it.
    files_before = sorted(p.name for p in tmp_path.iterdir())
    digest = _digest(path)
    with pytest.raises(SchemaTooNewError,
                       match=r"written by a newer fieldkit \(unknown migrations: "
                             r"m999_from_the_future\); it was left untouched"):
        Store(path)
    assert _digest(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == files_before


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "node.db"
    path.write_bytes(b"this is a config file, not SQLite" * 40)
    with pytest.raises(StoreError, match=r"cannot open database .*file is not a database"):
        Store(path)
    assert path.read_bytes() == b"this is a config file, not SQLite" * 40


def test_events_cannot_be_rewritten_or_deleted(tmp_path):
    identity = NodeIdentity.generate("T01")
    with Store(tmp_path / "node.db") as store:
        log = IncidentLog(store, identity, Keyring.from_names(identity, {}))
        log.create(title="Fire in tent 4", kind="fire", severity=4)
        with pytest.raises(sqlite3.IntegrityError, match="events are immutable"):
            store.conn.execute("UPDATE events SET payload = '{}'")
        with pytest.raises(sqlite3.IntegrityError, match="events are append-only"):
            store.conn.execute("DELETE FROM events")
        with pytest.raises(StoreError, match="events are append-only"), store.write() as conn:
            conn.execute("DELETE FROM events")
        assert log.stats()["events"] == 1


def _rows(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT origin FROM rejections ORDER BY origin")]


def _add(conn: sqlite3.Connection, origin: str) -> None:
    conn.execute("INSERT INTO rejections VALUES (?, 'x', 1, 0, '')", [origin])


class _Abort(Exception):
    pass


def _write_then_fail(store: Store, *origins: str) -> None:
    """Add ``origins`` in a write (nested ones, after the first), then fail in it."""
    with store.write() as conn:
        _add(conn, origins[0])
        for origin in origins[1:]:
            with store.write() as inner:
                _add(inner, origin)
        raise _Abort(origins[0])


def nested_writes_scenario(store: LogStore, others_count: Callable[[], int]) -> None:
    """Nested writes are savepoints of one transaction (both backends run this);
    ``others_count()`` counts the rows another connection sees."""
    with store.write() as conn:
        _add(conn, "a")
        with store.write() as inner:
            _add(inner, "b")
        with pytest.raises(_Abort, match="c"):  # a failing nested write is undone alone
            _write_then_fail(store, "c")
        with pytest.raises(StoreError, match=r"(?i)unique"):  # so is a failing statement
            _write_then_fail(store, "b")
        assert _rows(store) == ["a", "b"]  # reads inside a write see what it wrote
        assert others_count() == 0  # nobody else does before the outermost commit
    assert _rows(store) == ["a", "b"]
    with pytest.raises(_Abort, match="d"):  # the outer write fails: all is undone
        _write_then_fail(store, "d", "e")
    assert _rows(store) == ["a", "b"]


def test_nested_writes_are_savepoints_of_one_transaction(tmp_path):
    def others_count() -> int:
        other = sqlite3.connect(store.path)
        try:
            return int(other.execute("SELECT count(*) FROM rejections").fetchone()[0])
        finally:
            other.close()

    with Store(tmp_path / "node.db") as store:
        nested_writes_scenario(store, others_count)
        assert not store.conn.in_transaction


def test_a_write_from_another_thread_during_a_write_is_refused(tmp_path):
    import threading

    errors: list[Exception] = []

    def other_thread(store: Store) -> None:
        try:
            with store.write():
                pass
        except StoreError as exc:
            errors.append(exc)

    with Store(tmp_path / "node.db") as store, store.write():
        thread = threading.Thread(target=other_thread, args=(store,))
        thread.start()
        thread.join()
    assert [str(e) for e in errors] == [
        f"cannot write to {store.path}: another thread is writing"]


def test_node_directory_and_database_files_are_owner_only(tmp_path, node_dir):
    """Issue 14 item 7: the database (phone numbers, blobs), -wal and -shm are 0600 in a
    0700 directory, even under a permissive umask."""
    old = os.umask(0o022)
    try:
        with Store(node_dir / "fieldkit.db") as store, store.write() as conn:
            conn.execute("INSERT INTO blobs (sha256, mime, size, data) VALUES (?, ?, ?, ?)",
                         ["0" * 64, "text/plain", 1, b"x"])
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in node_dir.iterdir()
                     if p.name.startswith("fieldkit.db")}
    finally:
        os.umask(old)
    assert stat.S_IMODE(node_dir.stat().st_mode) == 0o700
    assert modes == {"fieldkit.db": 0o600, "fieldkit.db-wal": 0o600, "fieldkit.db-shm": 0o600,
                     "fieldkit.db.lock": 0o600}


def test_an_open_database_left_by_an_older_version_is_tightened(tmp_path):
    path = tmp_path / "old.db"
    Store(path).close()
    path.chmod(0o644)
    with Store(path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
