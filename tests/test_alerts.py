"""The one alert mechanism, on a real SQLite file: raise-or-update and clear keyed by the
situation, idempotent, each call one transaction with the incident's events."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
from crash_alerts import scenario

from fieldkit.alerts import Alert, Change, Snapshot, clear, open_alerts, raise_or_update
from fieldkit.errors import InvalidActionError, StoreError
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.pgstore import PgStore
from fieldkit.schema import MIGRATION_NAMES, MIGRATIONS
from fieldkit.store import Store

CHILD = Path(__file__).with_name("crash_alerts.py")

WHERE = {"lat": 21.42, "lon": 39.82}


def _alert(severity: int = 3, title: str = "Drone D1: battery low",
           description: str = "Battery at 25%.", **more: object) -> Alert:
    fields: dict[str, object] = {
        "subject": "drone:D1", "rule": "battery", "title": title, "kind": "drone",
        "severity": severity, "source": "drone", "description": description,
        "location": WHERE, "links": (("drone", "D1"),)}
    fields.update(more)
    return Alert(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request, make_log) -> Iterator[IncidentLog]:
    """The log on each backend: alerts nest writes and read inside them on both."""
    identity = NodeIdentity.generate("T01")
    if request.param == "sqlite":
        yield make_log(identity)
        return
    with PgStore(request.getfixturevalue("pg_url")) as store:
        yield IncidentLog(store, identity, Keyring.from_names(identity, {}))


def _events(log: IncidentLog) -> int:
    return int(log.store.conn.execute("SELECT count(*) FROM events").fetchone()[0])


def test_raise_opens_one_linked_incident_and_repeating_it_writes_nothing(log):
    first = raise_or_update(log, _alert())
    assert first.change is Change.RAISED
    inc = first.incident
    assert (inc.title, inc.kind, inc.severity, inc.source, inc.description) == (
        "Drone D1: battery low", "drone", 3, "drone", "Battery at 25%.")
    assert inc.location == WHERE
    assert [(link.target, link.ref) for link in inc.links] == [("drone", "D1")]
    (alert,) = open_alerts(log.store)
    assert (alert.subject, alert.rule, alert.incident, alert.severity) == (
        "drone:D1", "battery", inc.id, 3)

    written = _events(log)
    again = raise_or_update(log, _alert(), note="ignored: nothing changed",
                            snapshot=Snapshot(b"jpeg", "x.jpg"))
    assert (again.change, again.incident.id) == (Change.UNCHANGED, inc.id)
    assert _events(log) == written


def test_update_writes_the_changed_fields_once_severity_or_title_changes(log):
    inc = raise_or_update(log, _alert()).incident
    quiet = raise_or_update(log, _alert(description="Battery at 24%."))
    assert quiet.change is Change.UNCHANGED  # same severity and title: no event
    assert quiet.incident.description == "Battery at 25%."

    worse = raise_or_update(log, _alert(4, "Drone D1: battery critical", "Battery at 9%.",
                                        location={"lat": 21.5, "lon": 39.9}),
                            note="Battery at 9%.", snapshot=Snapshot(b"\xff\xd8", "d1.jpg"))
    assert (worse.change, worse.incident.id) == (Change.UPDATED, inc.id)
    got = log.get(inc.id)
    assert (got.severity, got.title, got.description, got.location) == (
        4, "Drone D1: battery critical", "Battery at 9%.", {"lat": 21.5, "lon": 39.9})
    assert [n.text for n in got.notes] == ["Battery at 9%."]
    assert [a.name for a in got.attachments] == ["d1.jpg"]
    assert len(log.incidents()) == 1


def test_clear_notes_resolves_and_closes_the_alert_once(log):
    inc = raise_or_update(log, _alert()).incident
    cleared = clear(log, "drone:D1", "battery", note="Cleared: battery at 99%.",
                    resolve="condition cleared")
    assert cleared is not None
    assert cleared.id == inc.id
    got = log.get(inc.id)
    assert got.status == "resolved"
    assert got.notes[-1].text == "Cleared: battery at 99%."
    assert open_alerts(log.store) == []
    written = _events(log)
    assert clear(log, "drone:D1", "battery", note="again", resolve="again") is None
    assert _events(log) == written

    # Raised again after the incident was resolved: a new incident.
    second = raise_or_update(log, _alert())
    assert second.change is Change.RAISED
    assert second.incident.id != inc.id


def test_a_situation_back_before_the_crew_resolved_it_continues_its_incident(log):
    inc = raise_or_update(log, _alert()).incident
    clear(log, "drone:D1", "battery", note="Cleared.")  # noted, not resolved
    back = raise_or_update(log, _alert(4, "Drone D1: battery critical", "Battery at 9%."))
    assert (back.change, back.incident.id) == (Change.REOPENED, inc.id)
    assert back.incident.severity == 4
    assert back.incident.notes[-1].text == "Condition back: Battery at 9%."
    assert [a.incident for a in open_alerts(log.store)] == [inc.id]


def test_clear_never_reopens_or_re_resolves_what_the_crew_closed(log):
    inc = raise_or_update(log, _alert()).incident
    log.set_status(inc.id, "closed", "handled by pilot")
    cleared = clear(log, "drone:D1", "battery", note="Cleared.", resolve="condition cleared")
    assert cleared is not None
    assert cleared.status == "closed"
    assert log.events_of(inc.id)[-1].kind == "note"


def test_situations_are_keyed_by_subject_and_rule(log):
    raise_or_update(log, _alert())
    raise_or_update(log, _alert(subject="drone:D2", links=(("drone", "D2"),)))
    raise_or_update(log, _alert(rule="gps_lost"))
    raise_or_update(log, Alert("camera:gate", "density:z1", "High density in z1",
                               "crowd_density", 3, "analytics"))
    assert len(log.incidents()) == 4
    assert [(a.subject, a.rule) for a in open_alerts(log.store, "drone:")] == [
        ("drone:D1", "battery"), ("drone:D2", "battery"), ("drone:D1", "gps_lost")]
    assert [a.rule for a in open_alerts(log.store, "camera:gate")] == ["density:z1"]


def test_a_bad_alert_is_refused_naming_the_field_and_writes_nothing(log):
    with pytest.raises(InvalidActionError, match="severity"):
        raise_or_update(log, _alert(severity=9))
    with pytest.raises(InvalidActionError, match="link target 'radio'"):
        raise_or_update(log, _alert(links=(("radio", "R1"),)))  # fails after the create
    assert _events(log) == 0
    assert open_alerts(log.store) == []


def test_an_outer_write_commits_alerts_and_other_rows_together(log):
    def raise_then_fail() -> None:
        with log.store.write():
            raise_or_update(log, _alert())
            clear(log, "drone:D1", "battery", note="gone")
            raise RuntimeError("the part's own write failed")

    with pytest.raises(RuntimeError, match="own write failed"):
        raise_then_fail()
    assert (_events(log), open_alerts(log.store)) == (0, [])


def test_one_open_alert_per_situation_is_enforced_by_the_table(log):
    raise_or_update(log, _alert())
    with pytest.raises(StoreError, match=r"(?i)unique"), log.store.write() as conn:
        conn.execute("INSERT INTO alerts (subject, rule, incident, raised_at)"
                     " VALUES ('drone:D1', 'battery', 'other', 1)")


def test_an_open_alert_whose_incident_is_not_held_is_raised_anew(log):
    """Only a damaged copy loses an incident; the situation is then raised again, not lost."""
    with log.store.write() as conn:
        conn.execute("INSERT INTO alerts (subject, rule, incident, raised_at) VALUES"
                     " ('drone:D1', 'battery', 'lost', 1), ('drone:D2', 'gps_lost', 'lost', 1)")
    outcome = raise_or_update(log, _alert())
    assert outcome.change is Change.RAISED
    assert [a.incident for a in open_alerts(log.store)] == ["lost", outcome.incident.id]
    assert clear(log, "drone:D2", "gps_lost", note="gone") is None
    assert [a.incident for a in open_alerts(log.store)] == [outcome.incident.id]


@pytest.mark.slow
def test_sigkill_between_any_two_steps_never_raises_twice_nor_loses_an_ack(tmp_path):
    """A real process raising, updating and clearing alerts is killed at each of its SQL
    statements in turn. Restarted, it repeats the step it was in (it cannot know whether
    that one committed) and goes on: it ends with the ids it acknowledged, and the same
    incidents and events as a run that was never killed."""
    identity = NodeIdentity.generate("T01")
    key = tmp_path / "node.key"
    identity.save(key)
    template = tmp_path / "template.db"
    Store(template).close()  # migrated once: the child's statements are the scenario's

    def restart(db: Path) -> IncidentLog:
        store = Store(db)
        return IncidentLog(store, identity, Keyring.from_names(identity, {}))

    def shape(log: IncidentLog) -> list[tuple[str, str, list[str]]]:
        return sorted((i.title, i.status.value, [e.kind for e in log.events_of(i.id)])
                      for i in log.incidents())

    clean = restart(tmp_path / "clean.db")
    scenario(clean)
    expected = shape(clean)
    clean.store.close()

    kills = 0
    for kill_at in range(1, 1000):
        db = tmp_path / f"run{kill_at}.db"
        shutil.copy(template, db)
        proc = subprocess.run([sys.executable, str(CHILD), str(db), str(key), str(kill_at)],
                              capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            break  # the scenario ran to its end before statement kill_at
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        kills += 1
        acked = dict(line.split()[1:] for line in proc.stdout.splitlines())
        log = restart(db)
        assert log.store.integrity_check() == "ok"
        for incident in acked.values():  # acknowledged: held, before any restart
            assert log.get(incident).id == incident
        scenario(log, first=len(acked))
        assert shape(log) == expected, f"killed at statement {kill_at}"
        ids = {i.title: i.id for i in log.incidents()}
        if "battery" in acked:
            assert ids["Drone D1: battery critical"] == acked["battery"]
        if "density" in acked:
            assert ids["High crowd density in z1"] == acked["density"]
        assert [(a.subject, a.rule) for a in open_alerts(log.store)] == [
            ("camera:gate", "density:z1")]
        log.store.close()
    assert kills >= 80  # every statement of the scenario was a kill point


def test_migration_moves_the_three_old_alert_tables(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    MIGRATIONS.apply(db, stop_before="m011_alerts_moved")
    db.conn.executescript("""
        INSERT INTO drone_alerts (vehicle, rule, incident, raised_at, cleared_at)
            VALUES ('D1', 'battery', 'i1', 10, 20), ('D1', 'battery', 'i2', 30, NULL);
        INSERT INTO camera_alerts (camera, rule, incident, raised_at, cleared_at)
            VALUES ('gate', 'density:z1', 'i3', 40, NULL);
        INSERT INTO health_alerts (rule, incident, raised_at, cleared_at)
            VALUES ('on_battery', 'i4', 50, NULL);
    """)
    db.close()
    with Store(path) as store:
        assert [m.name for m in MIGRATIONS.applied(store.db)] == MIGRATION_NAMES
        rows = store.conn.execute("SELECT subject, rule, incident, raised_at, cleared_at"
                                  " FROM alerts ORDER BY id").fetchall()
        assert rows == [("drone:D1", "battery", "i1", 10, 20),
                        ("drone:D1", "battery", "i2", 30, None),
                        ("camera:gate", "density:z1", "i3", 40, None),
                        ("node", "on_battery", "i4", 50, None)]
        tables = {r[0] for r in store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert not tables & {"drone_alerts", "camera_alerts", "health_alerts"}
        assert [(a.subject, a.rule) for a in open_alerts(store)] == [
            ("drone:D1", "battery"), ("camera:gate", "density:z1"), ("node", "on_battery")]
