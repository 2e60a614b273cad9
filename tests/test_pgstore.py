"""The PostgreSQL store on a real server: the same migrations and append-only guarantee as
SQLite, byte-identical views, concurrent writers per origin, a database restart."""

from __future__ import annotations

import random
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldkit.errors import SchemaTooNewError, StoreError
from fieldkit.events import Event
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.pgserver import TempPostgres
from fieldkit.pgstore import PgStore, to_pg_sql
from fieldkit.schema import BOARD_ORDER, MIGRATION_NAMES
from fieldkit.store import open_store
from fieldkit.view import rebuild_view
from tests.test_fold import NODES, OPS, _events, _play
from tests.test_store import nested_writes_scenario
from tests.waiting import wait_until

VIEW = ("SELECT id, title, kind, severity, status, source, reported_by, zone, camera, lat, lon,"
        " created_at, updated_at, conflicts, state FROM incidents ORDER BY id")


def _open(location: str | Path, identity: NodeIdentity,
          trusted: list[NodeIdentity]) -> IncidentLog:
    keyring = Keyring.from_names(identity, {n.name: n.public_key_b64 for n in trusted})
    return IncidentLog(open_store(location), identity, keyring)


def test_placeholders_are_rewritten_outside_literals_only():
    assert to_pg_sql("SELECT '?%' WHERE a = ? AND b LIKE ?") == \
        "SELECT '?%%' WHERE a = %s AND b LIKE %s"


def test_every_migration_applies_once_and_events_are_append_only(pg_url):
    hq = NodeIdentity.generate("HQ")
    log = _open(pg_url, hq, [])
    incident = log.create(title="Crush at gate 3", kind="crowd_density", severity=3)
    log.attach(incident.id, b"\x00jpeg", "gate.jpg", "image/jpeg")
    assert log.missing_blobs() == []
    assert log.blob(log.get(incident.id).attachments[0].blob) == ("image/jpeg", b"\x00jpeg")
    with log.store.write() as c:  # m013: only a signature may be replaced (healed)
        c.execute("UPDATE events SET sig = sig")
    for statement in ("UPDATE events SET kind = 'note'", "DELETE FROM events"):
        with pytest.raises(StoreError, match=r"immutable|append-only"), log.store.write() as c:
            c.execute(statement)
    log.store.close()
    with psycopg.connect(pg_url) as raw:
        names = [r[0] for r in raw.execute("SELECT name FROM fieldkit_migrations")]
    assert sorted(names) == sorted(MIGRATION_NAMES)
    reopened = _open(pg_url, hq, [])  # nothing pending: opens without migrating again
    assert reopened.get(incident.id).attachments[0].name == "gate.jpg"
    assert reopened.store.integrity_check() == "ok"
    reopened.store.close()


def test_writes_nest_as_savepoints_as_in_sqlite(pg_url):
    def others_count() -> int:
        with psycopg.connect(pg_url) as other:
            return int(other.execute("SELECT count(*) FROM rejections").fetchone()[0])

    with PgStore(pg_url) as store:
        nested_writes_scenario(store, others_count)


def test_a_database_from_a_newer_fieldkit_is_refused_untouched(pg_url):
    PgStore(pg_url).close()
    with psycopg.connect(pg_url) as raw:
        raw.execute("INSERT INTO fieldkit_migrations VALUES ('fieldkit', 'm999_future', 'x')")
    with pytest.raises(SchemaTooNewError, match="m999_future"):
        PgStore(pg_url)


def test_a_bad_url_names_the_setting_and_hides_the_password():
    with pytest.raises(StoreError, match=r"store\.url") as caught:
        PgStore("postgresql://hq:s3cret@/fieldkit?port=notaport&&")
    assert "s3cret" not in str(caught.value)


@settings(max_examples=12, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=OPS, seed=st.integers(0, 2**32 - 1))
def test_sqlite_and_postgresql_hold_byte_identical_views(ops, seed, postgres, tmp_path):
    """Three nodes act and sync on SQLite; an SQLite HQ and a PostgreSQL HQ receive the same
    events in different shuffled batches and fold them to the very same rows."""
    rng = random.Random(seed)
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    writers = [_open(root / f"{n.name}.db", n, NODES) for n in NODES]
    _play(ops, writers)
    everything = list({e.id: e for log in writers for e in _events(log)}.values())
    hq = NodeIdentity.generate("HQ0")
    backends = [_open(root / "hq.db", hq, NODES), _open(postgres.create_database(), hq, NODES)]
    for log in backends:
        shipment = list(everything)
        while len(_events(log)) < len(everything):
            rng.shuffle(shipment)
            cut = rng.randint(1, len(shipment))
            assert not log.apply(shipment[:cut]).rejected
            log.apply(shipment[cut:])
    sqlite_view, pg_view = (log.store.conn.execute(VIEW).fetchall() for log in backends)
    assert [tuple(r) for r in sqlite_view] == [tuple(r) for r in pg_view]
    assert sorted(r[0] for r in pg_view) == sorted(
        {e.incident for e in everything if e.kind == "create"})
    for log in [*writers, *backends]:
        log.store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_board_is_read_from_its_index_not_sorted(backend, request, tmp_path):
    """m016: the consoles' board read (open first, severity, latest change) walks the
    board index on both backends (PostgreSQL told that sorting costs more than reading
    the index, as it would judge for a city's incidents but not for these three)."""
    location = (str(tmp_path / "T01.db") if backend == "sqlite"
                else request.getfixturevalue("pg_url"))
    log = _open(location, NodeIdentity.generate("T01"), [])
    for severity in (1, 5, 3):
        log.create(title=f"severity {severity}", kind="medical", severity=severity)
    query = f"SELECT state FROM incidents ORDER BY {BOARD_ORDER} LIMIT 50"
    if backend == "sqlite":
        plan = " ".join(str(r) for r in log.store.conn.execute("EXPLAIN QUERY PLAN " + query))
    else:
        with log.store.write() as conn:
            conn.execute("SET LOCAL enable_sort = off")
            conn.execute("SET LOCAL enable_seqscan = off")
            plan = " ".join(r[0] for r in conn.execute("EXPLAIN " + query))
    assert "incidents_board" in plan
    assert "sort" not in plan.lower()
    assert [i.severity for i in log.incidents(limit=50)] == [5, 3, 1]
    log.store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_reads_wait_for_no_write_and_a_read_block_is_one_snapshot(backend, request, tmp_path):
    """Health's counts and cursor come from one snapshot, on both backends, and a read
    answers while another connection holds a write open (held by an Event, not a sleep)."""
    location = (str(tmp_path / "T01.db") if backend == "sqlite"
                else request.getfixturevalue("pg_url"))
    identity = NodeIdentity.generate("T01")
    writer, reader = _open(location, identity, []), _open(location, identity, [])
    writer.create(title="first", kind="medical", severity=2)
    held, release = threading.Event(), threading.Event()

    def hold_write() -> None:
        with writer.store.write():
            writer.create(title="uncommitted", kind="medical", severity=2)
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold_write)
    holder.start()
    try:
        assert held.wait(30)
        open_write = reader.stats()
        assert (open_write["events"], open_write["incidents"]) == (1, 1)
    finally:
        release.set()
        holder.join()
    with reader.store.read():
        before = reader.stats()
        writer.create(title="meanwhile", kind="medical", severity=2)
        assert reader.stats() == before
        assert reader.cursor() == before["cursor"]
    after = reader.stats()
    assert (before["events"], after["events"]) == (2, 3)
    assert after["cursor"] > before["cursor"]
    for log in (writer, reader):
        log.store.close()


def _truck_events(name: str, count: int, tmp_path: Path) -> tuple[NodeIdentity, list[Event]]:
    identity = NodeIdentity.generate(name)
    truck = _open(tmp_path / f"{name}.db", identity, [])
    incident = truck.create(title=f"{name} incident", kind="medical", severity=2)
    truck.append([(incident.id, "note", {"text": f"n{i}"}) for i in range(count - 1)])
    events = _events(truck)
    truck.store.close()
    return identity, events


def test_concurrent_sessions_never_lose_duplicate_or_reorder_an_origin(pg_url, tmp_path):
    """Six sessions (two per truck, on separate pools like separate workers) deliver
    overlapping batches at once: every origin's chain arrives whole, once, in order."""
    trucks = [_truck_events(f"T{k}", 120, tmp_path) for k in range(3)]
    hq = NodeIdentity.generate("HQ")
    trusted = [identity for identity, _ in trucks]
    errors: list[BaseException] = []

    def session(events: list[Event], offset: int) -> None:
        log = _open(pg_url, hq, trusted)
        try:
            for i in range(offset, len(events), 15):
                log.apply(events[max(0, i - 10):i + 15])  # overlaps the other session's
        except BaseException as exc:
            errors.append(exc)
        finally:
            log.store.close()

    PgStore(pg_url).close()  # migrate once, before the sessions race
    threads = [threading.Thread(target=session, args=(events, offset))
               for _, events in trucks for offset in (0, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(pg_url) as raw:
        rows = raw.execute("SELECT origin, seq FROM events ORDER BY arrival").fetchall()
    for identity, events in trucks:
        assert [s for o, s in rows if o == identity.name] == [e.seq for e in events]


def test_writers_folding_one_incident_at_once_each_see_the_others_events(pg_url, tmp_path):
    """Three trucks' notes on one incident, and HQ's own, land at once on separate pools:
    each writer folds the incident holding it, so the stored view has every note (a
    writer folding before another's commit would store a state missing that one's)."""
    first = NodeIdentity.generate("T0")
    origin = _open(tmp_path / "T0.db", first, [])
    incident = origin.create(title="shared", kind="medical", severity=2).id
    trucks: list[tuple[NodeIdentity, list[Event]]] = [(first, _events(origin))]
    origin.store.close()
    for k in (1, 2, 3):
        identity = NodeIdentity.generate(f"T{k}")
        truck = _open(tmp_path / f"T{k}.db", identity, [])
        truck.append([(incident, "note", {"text": f"T{k} {i}"}) for i in range(40)])
        trucks.append((identity, _events(truck)))
        truck.store.close()
    hq = NodeIdentity.generate("HQ")
    trusted = [identity for identity, _ in trucks]
    PgStore(pg_url).close()
    _open(pg_url, hq, trusted).apply(trucks[0][1])  # the create, so HQ can add notes
    errors: list[BaseException] = []

    def session(write: Callable[[IncidentLog], None]) -> None:
        log = _open(pg_url, hq, trusted)
        try:
            write(log)
        except BaseException as exc:
            errors.append(exc)
        finally:
            log.store.close()

    def deliver(events: list[Event]) -> Callable[[IncidentLog], None]:
        return lambda log: [log.apply(events[i:i + 3]) for i in range(0, len(events), 3)]

    def notes_at_hq(log: IncidentLog) -> None:
        for i in range(20):
            log.add_note(incident, f"HQ {i}")

    threads = [threading.Thread(target=session, args=(deliver(events),))
               for _, events in trucks[1:]]
    threads.append(threading.Thread(target=session, args=(notes_at_hq,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    log = _open(pg_url, hq, trusted)
    assert len(log.get(incident).notes) == 3 * 40 + 20
    with log.store.write() as conn:
        stored = conn.execute(VIEW).fetchall()
        rebuild_view(conn)
        assert conn.execute(VIEW).fetchall() == stored
    log.store.close()


def _delivered(log: IncidentLog, events: list[Event]) -> bool:
    try:
        return not log.apply(events).rejected
    except StoreError:
        return False


def test_a_database_restart_mid_session_loses_nothing_acknowledged(tmp_path):
    identity, events = _truck_events("T1", 60, tmp_path)
    hq = NodeIdentity.generate("HQ")
    with TempPostgres() as server:
        url = server.create_database()
        keyring = Keyring.from_names(hq, {identity.name: identity.public_key_b64})
        log = IncidentLog(PgStore(url, wait_s=2), hq, keyring)
        acknowledged = log.apply(events[:30]).applied
        server.stop(mode="immediate")  # a crash: recovery replays the WAL
        with pytest.raises(StoreError, match=r"cannot|failed"):
            log.apply(events[30:45])
        server.start()
        # The truck redelivers what was not acknowledged until HQ takes it (the pool
        # reconnects in the background, with backoff).
        wait_until(lambda: _delivered(log, events), 60, "HQ to take the redelivery")
        sqlite_hq = _open(tmp_path / "hq.db", hq, [identity])
        sqlite_hq.apply(events)
        assert acknowledged == 30
        assert [e.id for e in _events(log)] == [e.id for e in events]
        assert log.store.conn.execute(VIEW).fetchall() == \
            sqlite_hq.store.conn.execute(VIEW).fetchall()
        log.store.close()
        sqlite_hq.store.close()
