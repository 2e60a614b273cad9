"""Health incidents through the real incident log on a real SQLite file, and retention."""

from __future__ import annotations

import sqlite3
import time

import aiohttp
import pytest
from waiting import until

from fieldkit.hardware.config import HardwareSection
from fieldkit.hardware.gpsd import Fix
from fieldkit.hardware.health import (
    Condition,
    HealthAlerts,
    HealthMonitor,
    MonitorState,
    Readings,
    evaluate,
    probe,
)
from fieldkit.hardware.records import prune_samples, record_position
from fieldkit.hardware.sensors import ClockState, PowerState, Temperature
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.node import Node
from fieldkit.store import open_store
from fieldkit.worker import LogWorker

LIMITS = HardwareSection()  # disk 90%, 85 °C
MAINS = PowerState(True, False, 100.0, "mains online, BAT0 full 100%")
SYNCED = ClockState(True, "chronyc", "chrony leap status Normal")


def readings(disk: float = 50.0, temp: float = 60.0, power: PowerState = MAINS,
             clock: ClockState = SYNCED) -> Readings:
    return Readings(disk, 100.0, [Temperature("thermal_zone0 (x86_pkg_temp)", temp)], power,
                    clock)


def active(conditions: list[Condition]) -> dict[str, int]:
    return {c.rule: c.severity for c in conditions if c.active}


def test_rules():
    assert active(evaluate(readings(), LIMITS)) == {}
    on_battery = PowerState(True, True, 12.0, "mains offline, BAT0 discharging 12%")
    unsynced = ClockState(False, "adjtimex", "kernel clock not synchronised")
    assert active(evaluate(readings(91, 86, on_battery, unsynced), LIMITS)) == {
        "disk_full": 3, "overheating": 3, "on_battery": 4, "clock_unsynced": 2}
    assert active(evaluate(readings(96, 99), LIMITS)) == {"disk_full": 4, "overheating": 4}


def test_nothing_to_read_leaves_rules_out():
    bare = Readings(None, None, [], PowerState(False, False, None, "none"),
                    ClockState(None, "none", "no source"))
    assert evaluate(bare, LIMITS) == []


def test_probe_reads_this_machine(tmp_path):
    found = probe(tmp_path, sys_root=tmp_path / "no-sys")
    assert found.disk_used_pct is not None
    assert 0 < found.disk_used_pct < 100
    assert found.temperatures == []
    assert not found.power.present


@pytest.fixture
def log(make_log):
    return make_log(NodeIdentity.generate("T01"))


FIX = Fix(lat=47.662, lon=-122.326, mode=3, alt_m=76.5, speed_ms=0.0, track_deg=None,
          eph_m=17.1, gps_time="2026-08-05T05:52:57.200Z", device="/dev/gps0",
          received_ms=1)


def test_raised_once_updated_then_resolved(log):
    alerts = HealthAlerts(log)
    changes = alerts.apply(evaluate(readings(disk=92), LIMITS), at=FIX)
    assert changes == ["raised disk_full: 92.0% used, 100.0 GB free (limit 90%)"]
    incident_id = alerts.open_alerts()["disk_full"]
    incident = log.get(incident_id)
    assert (incident.title, incident.kind, incident.severity, incident.source) == (
        "Node disk nearly full", "node_disk", 3, "hardware")
    # Placed at the truck's latest fix, which says when it was taken (it may be old).
    assert incident.location == {"lat": 47.662, "lon": -122.326, "accuracy_m": 17.1,
                                 "at_ms": FIX.received_ms}

    assert alerts.apply(evaluate(readings(disk=93), LIMITS)) == []  # same severity: quiet
    assert HealthAlerts(log).apply(evaluate(readings(disk=93), LIMITS)) == []  # restarted
    assert alerts.apply(evaluate(readings(disk=97), LIMITS)) == [
        "updated disk_full: severity 4, 97.0% used, 100.0 GB free (limit 90%)"]
    assert log.get(incident_id).severity == 4

    assert alerts.apply(evaluate(readings(disk=40), LIMITS)) == [
        "cleared disk_full: 40.0% used, 100.0 GB free (limit 90%)"]
    assert log.get(incident_id).status.value == "resolved"
    assert alerts.open_alerts() == {}
    assert len(log.incidents()) == 1
    assert [e.kind for e in log.events_of(incident_id)] == ["create", "set", "set", "status"]

    alerts.apply(evaluate(readings(disk=95), LIMITS))  # full again: a new incident
    assert len(log.incidents()) == 2


def test_crew_resolving_first_is_respected(log):
    alerts = HealthAlerts(log)
    alerts.apply(evaluate(readings(temp=90), LIMITS))
    incident_id = alerts.open_alerts()["overheating"]
    log.set_status(incident_id, "resolved", "fan replaced")
    assert alerts.apply(evaluate(readings(temp=91), LIMITS)) == []  # not reopened
    assert alerts.apply(evaluate(readings(temp=50), LIMITS)) == [
        "cleared overheating: thermal_zone0 (x86_pkg_temp) at 50 °C (limit 85 °C)"]
    assert log.get(incident_id).status.value == "resolved"
    assert log.events_of(incident_id)[-1].payload["reason"] == "fan replaced"


def _fix_at(ms: int) -> Fix:
    return Fix(lat=1.0, lon=2.0, mode=2, alt_m=None, speed_ms=None, track_deg=None,
               eph_m=None, gps_time=None, device=None, received_ms=ms)


def test_retention_prunes_samples_never_events(log):
    now = int(time.time() * 1000)
    for age_days in (30, 20, 1, 0):
        record_position(log, _fix_at(now - age_days * 86_400_000))
    log.create(title="Crowd at gate", kind="crowd_density", severity=3)
    for age_days in (15, 1):  # a camera zone's windows, one of them older than retention
        _zone_window(log.store.conn, now - age_days * 86_400_000)
    report = prune_samples(log, now - 14 * 86_400_000)
    assert report.removed == {"truck_positions": 2, "drone_samples": 0, "sensor_readings": 0,
                              "zone_metrics": 1}
    conn = log.store.conn
    assert conn.execute("SELECT count(*) FROM truck_positions").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError, match="events are append-only"):
        conn.execute("DELETE FROM events")


def _zone_window(conn, end_ms: int) -> None:
    conn.execute(
        "INSERT INTO zone_metrics (camera, zone, start_ms, end_ms, samples, count, peak,"
        " density, level, counter_flow_share, stationary_share) VALUES"
        " ('gate3', 'ramp', ?, ?, 5, 10, 12, 0.5, 'A', 0, 0)", [end_ms - 5000, end_ms])


async def test_a_node_without_the_health_monitor_still_prunes_old_samples(config):
    """Retention is every node's, not only one with ``hardware.health``: a truck with its
    [hardware] section untouched (no gps, no health) would otherwise keep every camera
    window and sensor reading until its disk filled."""
    assert not config.section(HardwareSection).health
    now = int(time.time() * 1000)
    worker = await LogWorker.open(config)
    try:
        for age_days in (15, 1):  # retention keeps 14 days
            await worker.call(_zone_window, worker.log.store.conn, now - age_days * 86_400_000)
    finally:
        await worker.close()
    node = Node(config)
    await node.start()
    try:
        def windows(conn) -> int:
            return conn.execute("SELECT count(*) FROM zone_metrics").fetchone()[0]

        await until(lambda: _left(node, windows, 1), "the 15-day-old window pruned")
        async with aiohttp.ClientSession() as http, http.get(
                f"{node.url}/api/hardware") as response:
            view = await response.json()
        assert (view["position"]["state"], view["health"]["state"]) == ("disabled", "disabled")
    finally:
        await node.stop()


async def _left(node: Node, count, wanted: int) -> bool:
    return await node.worker.call(count, node.worker.log.store.conn) == wanted


async def test_monitor_ticks_raise_and_prune(config):
    worker = await LogWorker.open(config)
    seen = [readings(disk=95, clock=ClockState(False, "adjtimex", "kernel clock not "
                                               "synchronised"))]
    now = int(time.time() * 1000)
    await worker.call(record_position, worker.log, _fix_at(now - 10 * 86_400_000))
    monitor = HealthMonitor(worker, LIMITS, config.base_dir, position=lambda: FIX,
                            read=lambda: seen[-1])
    try:
        changes = await monitor.tick()
        assert sorted(c.split(":")[0] for c in changes) == ["raised clock_unsynced",
                                                            "raised disk_full"]
        # disk full: retention prunes at half the retention (7 of 14 days) at once
        assert monitor.last_prune.removed["truck_positions"] == 1
        seen.append(readings())
        assert sorted(c.split(":")[0] for c in await monitor.tick()) == [
            "cleared clock_unsynced", "cleared disk_full"]
        assert monitor.snapshot()["readings"]["disk_used_pct"] == 50.0
        await monitor.start()
        assert monitor.state is MonitorState.RUNNING
    finally:
        await monitor.stop()
        await monitor.stop()
        await worker.close()
    assert monitor.state is MonitorState.STOPPED


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_retention_prunes_on_both_stores(backend, request, tmp_path):
    """An HQ on PostgreSQL runs the same retention (it asked sqlite_master once)."""
    location = (str(tmp_path / "T01.db") if backend == "sqlite"
                else request.getfixturevalue("pg_url"))
    identity = NodeIdentity.generate("T01")
    log = IncidentLog(open_store(location), identity, Keyring.from_names(identity, {}))
    try:
        now = int(time.time() * 1000)
        with log.store.write() as conn:
            for age_days in (15, 1):
                _zone_window(conn, now - age_days * 86_400_000)
        report = prune_samples(log, now - 14 * 86_400_000)
        assert report.removed["zone_metrics"] == 1
        assert log.store.conn.execute("SELECT count(*) FROM zone_metrics").fetchone()[0] == 1
    finally:
        log.store.close()
