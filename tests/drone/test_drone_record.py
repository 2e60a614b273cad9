"""Alerts carried out on a real incident log (SQLite file), including incidents that crews
changed meanwhile."""

from __future__ import annotations

import pytest
from dronehelp import with_drones

from drone.record import load_open_alerts, prune_samples, record
from drone.rules import Action, AlertAction
from drone.service import DroneService
from drone.state import TelemetrySample
from fieldkit.errors import IngestError
from fieldkit.identity import NodeIdentity
from fieldkit.worker import LogWorker

WHERE = {"lat": 21.5, "lon": 39.5, "accuracy_m": 2.0}


def act(kind: Action, incident: str | None = None, severity: int = 3) -> AlertAction:
    return AlertAction(kind, "D1", "battery", severity, "Drone D1: battery low",
                       "Battery at 25%.", WHERE, incident)


@pytest.fixture
def log(make_log):
    return make_log(NodeIdentity.generate("T01"))


def test_raise_creates_a_linked_drone_incident_and_an_open_alert(log):
    outcome = record(log, [], [act(Action.RAISE)])
    (_, incident_id), = outcome.incidents
    inc = log.get(incident_id)
    assert (inc.kind, inc.source, inc.severity, inc.title) == (
        "drone", "drone", 3, "Drone D1: battery low")
    assert inc.location == WHERE
    assert inc.description == "Battery at 25%."
    assert [(link.target, link.ref) for link in inc.links] == [("drone", "D1")]
    (alert,) = load_open_alerts(log.store).items()
    assert alert[0] == ("D1", "battery")
    assert alert[1].incident == incident_id


def test_escalate_then_clear(log):
    (_, incident_id), = record(log, [], [act(Action.RAISE)]).incidents
    record(log, [], [act(Action.ESCALATE, incident_id, severity=4)])
    assert log.get(incident_id).severity == 4
    record(log, [], [AlertAction(Action.CLEAR, "D1", "battery", 4, "", "Cleared: battery at 99%.",
                                 WHERE, incident_id)])
    inc = log.get(incident_id)
    assert inc.status == "resolved"
    assert [n.text for n in inc.notes] == ["Battery at 25%.", "Cleared: battery at 99%."]
    assert load_open_alerts(log.store) == {}


def test_clear_after_crew_closed_it_only_adds_a_note(log):
    (_, incident_id), = record(log, [], [act(Action.RAISE)]).incidents
    log.set_status(incident_id, "closed", "handled by pilot")
    outcome = record(log, [], [AlertAction(Action.CLEAR, "D1", "battery", 3, "", "Cleared.",
                                           WHERE, incident_id)])
    assert len(outcome.incidents) == 1
    inc = log.get(incident_id)
    assert inc.status == "closed"
    assert inc.notes[-1].text == "Cleared."
    assert load_open_alerts(log.store) == {}


def test_failed_action_is_reported_not_raised(log, caplog):
    outcome = record(log, [], [act(Action.RAISE, severity=9), act(Action.RAISE)])
    (action, incident_id), = outcome.incidents  # the bad one is skipped, the next one done
    assert action.severity == 3
    assert [i.id for i in log.incidents()] == [incident_id]
    assert "cannot raise battery alert (will retry): severity: Input should be" in caplog.text


def test_escalating_a_condition_never_raised_raises_it_once(log):
    """After a restart that lost the book's memory, an escalation still lands once."""
    for _ in range(2):
        record(log, [], [act(Action.ESCALATE, "0190-forgotten", severity=4)])
    (inc,) = log.incidents()
    assert inc.severity == 4
    assert list(load_open_alerts(log.store)) == [("D1", "battery")]


async def test_service_start_failure_stops_links_already_started(config):
    cfg = with_drones(config, links=[{"name": "A", "port": 0}, {"name": "B", "port": 0}])
    worker = await LogWorker.open(cfg)
    try:
        first = DroneService(cfg, worker)
        await first.start()
        taken = first.links["A"].port
        clash = with_drones(config, links=[{"name": "A", "port": 0},
                                           {"name": "B", "port": taken}])
        second = DroneService(clash, worker)
        with pytest.raises(IngestError, match=f"udp_listen 127.0.0.1:{taken}: cannot bind"):
            await second.start()
        assert second.links["A"].state == "stopped"
        await first.stop()
    finally:
        await worker.close()


def test_old_samples_are_pruned(log):
    samples = [TelemetrySample(vehicle="D1", link="L1", system_id=1, at=t) for t in (1, 2, 3)]
    assert record(log, samples, []).samples == 3
    assert prune_samples(log, 2500) == 2
    rows = log.store.conn.execute("SELECT at_ms FROM drone_samples").fetchall()
    assert rows == [(3000,)]
