"""`fieldkit hq migrate-store`: an HQ's SQLite log moved into a real PostgreSQL server,
every event verified, resumable after an interruption, local tables and views kept."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from fieldkit.alerts import Alert, open_alerts, raise_or_update
from fieldkit.cli import main
from fieldkit.config import load_config
from fieldkit.errors import StoreError
from fieldkit.hq import migrate as migrate_module
from fieldkit.hq.migrate import MigrationError, migrate
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.nodedir import init_node_dir
from fieldkit.pgstore import PgStore
from fieldkit.store import Store, open_node_store

VIEW = "SELECT id, state FROM incidents ORDER BY id"


class _Interrupted(Exception):
    pass


def _hq_with_history(tmp_path) -> tuple[IncidentLog, NodeIdentity]:
    """An HQ log on SQLite: a truck's events, its own, a blob, an alert, a rejection."""
    hq = NodeIdentity.generate("HQ")
    truck_id = NodeIdentity.generate("T01")
    truck = IncidentLog(Store(tmp_path / "t01.db"), truck_id, Keyring.from_names(truck_id, {}))
    for n in range(30):
        incident = truck.create(title=f"crush {n}", kind="medical", severity=1 + n % 5)
        truck.add_note(incident.id, "on our way")
    log = IncidentLog(Store(tmp_path / "hq.db"), hq,
                      Keyring.from_names(hq, {"T01": truck_id.public_key_b64}))
    log.apply([e for _, e in truck.feed(limit=1000)])
    truck.store.close()
    mine = log.create(title="Gate 3 closed", kind="medical", severity=2)
    log.attach(mine.id, b"\x89PNG gate", "gate.png", "image/png")
    raise_or_update(log, Alert("node", "disk_full", "HQ disk full", "node_disk", 3, "hardware"))
    log.apply_wire([{"origin": "T01"}])  # counted as a rejection
    return log, hq


def test_an_interrupted_move_resumes_and_ends_identical(tmp_path, pg_url, monkeypatch):
    source, hq = _hq_with_history(tmp_path)
    monkeypatch.setattr(migrate_module, "BATCH", 20)
    moved = 0

    def interrupt_after_two_batches(n: int) -> None:
        nonlocal moved
        moved += n
        if moved >= 40:
            raise _Interrupted

    with PgStore(pg_url) as pg:
        target = IncidentLog(pg, hq, source.keyring)
        with pytest.raises(_Interrupted):
            migrate(source, target, interrupt_after_two_batches)
        # HQ's own 3 events, then T01's in whole batches: 3 + 20 + 20 >= 40 stopped it.
        assert target.version_vector() == {"HQ": 3, "T01": 40}
        report = migrate(source, target)
        assert (report.already, report.events, report.blobs) == (43, 20, 1)
        assert target.version_vector() == source.version_vector()
        assert target.store.conn.execute(VIEW).fetchall() == \
            source.store.conn.execute(VIEW).fetchall()
        assert open_alerts(target.store) == open_alerts(source.store)
        assert target.rejections() == source.rejections()
        again = migrate(source, target)  # a complete target: nothing more to do
        assert (again.events, again.blobs, again.rows) == (0, 0, 0)
        # Ids carried over; new rows continue after them.
        raise_or_update(target, Alert("node", "overheating", "Hot", "node_heat", 2, "hardware"))
        assert len(open_alerts(target.store)) == 2
    source.store.close()


def test_an_event_that_fails_verification_is_not_moved(tmp_path, pg_url):
    source, hq = _hq_with_history(tmp_path)
    with PgStore(pg_url) as pg:
        target = IncidentLog(pg, hq, Keyring.from_names(hq, {}))
        source.keyring = Keyring.from_names(hq, {"T01": NodeIdentity.generate("T01")
                                                 .public_key_b64})  # a key that did not sign
        with pytest.raises(MigrationError, match="T01:1 fails verification"):
            migrate(source, target)
        assert target.version_vector() == {"HQ": 3}  # the origins before it, whole
    source.store.close()


def test_the_cli_moves_the_log_and_the_node_then_runs_on_postgresql(tmp_path, pg_url):
    node_dir = tmp_path / "HQ"
    init_node_dir(node_dir, role="hq", name="HQ")
    with open_node_store(load_config(node_dir)) as store:
        hq = NodeIdentity.load("HQ", node_dir / "node.key")
        IncidentLog(store, hq, Keyring.from_names(hq, {})).create(
            title="Lost child", kind="lost_person", severity=2)
    result = CliRunner().invoke(main, ["hq", "migrate-store", "--dir", str(node_dir),
                                       "--to", pg_url])
    assert result.exit_code == 0, result.output
    assert "moved 1 event(s)" in result.output
    config = node_dir / "fieldkit.toml"
    config.write_text(config.read_text() + f'\n[store]\nurl = "{pg_url}"\n')
    with open_node_store(load_config(node_dir)) as store:
        assert isinstance(store, PgStore)
        log = IncidentLog(store, hq, Keyring.from_names(hq, {}))
        assert [i.title for i in log.incidents()] == ["Lost child"]
    again = CliRunner().invoke(main, ["hq", "migrate-store", "--dir", str(node_dir),
                                      "--to", pg_url])
    assert again.exit_code == 1
    assert "already names a PostgreSQL database" in again.output


def test_an_unreachable_database_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="cannot open postgresql database"):
        PgStore(f"postgresql://fieldkit@/none?host={tmp_path}", wait_s=1)
