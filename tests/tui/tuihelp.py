"""Console test helpers: wait for a condition by pumping the app, fixed incidents."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from textual.pilot import Pilot

from fieldkit.fold import Incident
from fieldkit.views import (
    CamerasView,
    CameraView,
    DronesView,
    DroneView,
    FleetView,
    HealthView,
    MqttView,
    PeerView,
    SensorsView,
    SensorView,
    SensorZoneView,
    SyncStatusView,
    TransitView,
    ZoneView,
)
from tui._panels import Fetched

NOW_MS = 1_764_120_000_000
"""The fixed clock of snapshot apps: 2025-11-26 01:20:00 UTC."""


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], what: str = "",
                   rounds: int = 2000) -> None:
    """Pump the app until ``condition()`` holds (bounded in rounds, not in time)."""
    for _ in range(rounds):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.01)
    raise AssertionError(f"condition never held: {what or condition}")


def text_of(renderable: Any) -> str:
    """What a rich renderable (a Static's ``content``) reads as, 160 columns wide."""
    from rich.console import Console

    console = Console(width=160, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _stamp(by: str, at: int, event: str) -> dict[str, Any]:
    return {"by": by, "at": at, "event": event}


def fixed_incident(n: int, *, title: str, kind: str, severity: int, status: str = "new",
                   zone: str | None = None, lat: float | None = None, lon: float | None = None,
                   units: tuple[tuple[str, str], ...] = (), notes: tuple[str, ...] = (),
                   conflict: bool = False, age_s: int = 60) -> Incident:
    """A deterministic incident as the node's fold would produce it."""
    created = NOW_MS - age_s * 1000
    ev = f"T01:{n * 10}"
    location: dict[str, Any] | None = None
    if lat is not None or zone is not None:
        location = {k: v for k, v in (("lat", lat), ("lon", lon), ("zone", zone)) if v is not None}
    transitions = [{"status": "new", "reason": "", **_stamp("T01", created, ev)}]
    if status != "new":
        transitions.append({"status": status, "reason": "",
                            **_stamp("T02", created + 20_000, f"T02:{n}")})
    state: dict[str, Any] = {
        "id": f"019ac000-0000-7000-8000-{n:012d}", "title": title, "kind": kind,
        "severity": severity, "status": status, "description": "", "location": location,
        "source": "crew", "reported_by": "T01", "created_at": created,
        "updated_at": created + 30_000, "status_times": {}, "transitions": transitions,
        "assigned": [{"agency": a, "unit": u, **_stamp("T01", created + 10_000, f"T01:{n}1")}
                     for a, u in units],
        "notes": [{"text": t, **_stamp("T02", created + 25_000, f"T02:{n}2")} for t in notes],
        "attachments": [], "links": [], "conflicts": [], "heads": {}, "events": 3,
    }
    if conflict:
        state["conflicts"] = [{"field": "title", "winner": title, "candidates": [
            {"value": title + " (T01)", **_stamp("T01", created + 5000, "T01:99")},
            {"value": title, **_stamp("T02", created + 5000, "T02:99")}]}]
    return Incident.model_validate(state)


def fixed_incidents() -> list[Incident]:
    return [
        fixed_incident(1, title="Density rising at gate 4", kind="crowd_density", severity=4,
                       zone="gate-4", lat=21.4225, lon=39.8726, age_s=300),
        fixed_incident(2, title="Person down near pillar 7", kind="person_down", severity=5,
                       status="dispatched", zone="pillar-7", lat=21.4241, lon=39.8751,
                       units=(("medical", "M-12"),), notes=("crowd around the casualty",),
                       age_s=900),
        fixed_incident(3, title="Lost child reported at tent 12", kind="lost_person",
                       severity=2, status="acknowledged", zone="tent-12", lat=21.4202,
                       lon=39.8699, units=(("police", "P-3"),), age_s=1800, conflict=True),
        fixed_incident(4, title="Unattended bag at exit 2", kind="suspicious_object",
                       severity=3, status="on_scene", lat=21.4213, lon=39.8740,
                       units=(("police", "EOD-1"),), age_s=2400),
        fixed_incident(5, title="Heat stroke, sector 9", kind="medical", severity=3,
                       status="resolved", zone="sector-9", age_s=7200),
    ]


FIXED_HEALTH = HealthView(
    status="ok", node="T01", role="truck", version="0.1.0", uptime_s=600.0, public_key="k",
    events=42, cursor=42, incidents=5, by_status={"new": 1}, open=4,
    origins={"T01": 30, "T02": 12}, rejected=0)

_RAMP_COUNTS = [3.0, 4.2, 5.0, 6.8, 8.4, 9.0, 11.2, 12.6, 12.0, 13.4, 14.8, 15.2]
FIXED_PARTS = Fetched(
    NOW_MS - 2000, health=FIXED_HEALTH,
    cameras=CamerasView({
        "ramp-cam": CameraView(
            kind="mast", state="streaming", fps_in=5.0, fps_analysed=2.0, frames_in=3000,
            frames_analysed=1200, last_frame_ms=NOW_MS - 400, zones=[ZoneView(
                zone="ramp", end_ms=NOW_MS - 3000, window_s=5.0, count=15.2, peak=18,
                density=0.51, band=(0.42, 0.6), level="C", method="fused",
                counts=_RAMP_COUNTS)]),
        "gate-cam": CameraView(kind="mast", state="reconnecting", reconnects=3,
                               last_frame_ms=NOW_MS - 95_000,
                               last_error="rtsp://gate-cam: connection refused"),
        "D1": CameraView(kind="drone", state="streaming", fps_in=24.8, fps_analysed=2.0,
                         last_frame_ms=NOW_MS - 100, people=37),
    }),
    drones=DronesView(vehicles=[DroneView(
        name="D1", vehicle="D1", link="udp", system_id=1, at=(NOW_MS - 600) / 1000,
        mode="GUIDED", armed=True, lat=21.42302, lon=39.87351, alt_rel_m=60.0,
        groundspeed_ms=4.2, battery_pct=81.0, battery_v=15.9, gps_accuracy_m=2.5,
        heartbeat_age_s=0.4)], links={}),
    sync=SyncStatusView(node="T01", roster_version=3, peers=[
        PeerView(peer="HQ", url="http://10.0.0.9:8470", trust="trusted",
                 last_contact_s_ago=4.0, pending_out=2, pending_in=0, lag_s=1.5, failures=0,
                 last_error=None),
        PeerView(peer="T02", url=None, trust="trusted", last_contact_s_ago=None,
                 pending_out=None, pending_in=None, lag_s=None, failures=3,
                 last_error="no answer within 10 s")]),
)
"""What the panels show in snapshots: a counted zone, a camera down, a drone feed."""

_ZONE = {"occupancy": None, "occupancy_band": None, "anchored": None, "drift": None,
         "inflow_p_s": None, "outflow_p_s": None, "outflow_pm_s": None,
         "spare_capacity": None, "camera": None, "camera_difference": None}
_SENSOR = {"healthy": True, "received": 100, "out_of_order": 0, "rejected": 0,
           "last_error": None, "expected_interval_s": 5.0}
FIXED_SENSORS = SensorsView(
    enabled=True, stored=48_210, duplicates=12,
    mqtt=MqttView(state="connected", broker="10.0.0.5:8883", tls=True, connects=1),
    transit=TransitView(schedule=True, feeds=["metro"], errors={}, disrupted=["Central"]),
    zones=[SensorZoneView.model_validate(z) for z in [
        {**_ZONE, "zone": "concourse", "kind": "pedestrian", "state": "congested",
         "state_age_s": 240.0, "measure": "density", "value": 3.9, "density": 3.9,
         "density_band": (3.4, 4.4), "density_source": "sensors",
         "density_method": "entries-exits, anchored", "age_s": 1.2, "occupancy": 780.0,
         "occupancy_band": (680.0, 880.0), "anchored": True, "inflow_p_s": 2.4,
         "outflow_p_s": 1.1, "outflow_pm_s": 0.18, "spare_capacity": 0.0,
         "sensors": ["cc-in", "cc-out", "cc-count"]},
        {**_ZONE, "zone": "plaza", "kind": "pedestrian", "state": "free",
         "state_age_s": 1500.0, "measure": "density", "value": 0.42, "density": 0.42,
         "density_band": (0.38, 0.47), "density_source": "camera plaza-cam",
         "density_method": "fused", "age_s": 3.0, "spare_capacity": 620.0, "sensors": []},
        {**_ZONE, "zone": "north-gate", "kind": "pedestrian", "state": "unknown",
         "state_age_s": 65.0, "measure": None, "value": None, "age_s": 95.0,
         "sensors": ["ng-in", "ng-count"]},
        {**_ZONE, "zone": "ring-road", "kind": "road", "state": "dense",
         "state_age_s": 30.0, "measure": "road_occupancy", "value": 31.0, "age_s": 4.0,
         "sensors": ["loop-7"]}]],
    sensors=[SensorView.model_validate({**_SENSOR, **s}) for s in [
        {"id": "cc-in", "kind": "turnstile_in", "zone": "concourse", "value": 18234,
         "age_s": 1.2},
        {"id": "cc-out", "kind": "turnstile_out", "zone": "concourse", "value": 17102,
         "age_s": 1.3, "rejected": 2, "last_error": "value -3 is below 0"},
        {"id": "cc-count", "kind": "people_count", "zone": "concourse", "value": 781,
         "age_s": 12.0, "expected_interval_s": 30.0},
        {"id": "ng-in", "kind": "turnstile_in", "zone": "north-gate", "value": 300,
         "age_s": 95.0, "healthy": False, "fault": "silent 95 s"},
        {"id": "ng-count", "kind": "people_count", "zone": "north-gate", "value": None,
         "age_s": None, "healthy": False, "fault": "never heard", "received": 0},
        {"id": "loop-7", "kind": "road_occupancy", "zone": "ring-road", "value": 31,
         "age_s": 4.0, "expected_interval_s": 10.0}]])

_NODE = {"last_sync_s_ago": None, "last_sync_error": None, "last_event_s_ago": 2.0,
         "events": 40, "open_incidents": 1, "top_incidents": [], "cameras": {}, "drones": {}}
FIXED_FLEET = FleetView.model_validate({
    "node": "T01", "live": {"cameras": {}, "drones": []}, "nodes": [
        {**_NODE, "node": "T01", "self": True, "zones": {"concourse": {
            "state": "congested", "since_s_ago": 240.0,
            "incident": "019ac000-0000-7000-8000-000000000010"}}},
        {**_NODE, "node": "T02", "self": False, "last_sync_s_ago": 900.0,
         "last_event_s_ago": 900.0,
         "sensors_silent": "Silent beyond 3 expected intervals: er-in (120 s).",
         "zones": {"east-ramp": {"state": "blocked", "since_s_ago": 1200.0,
                                 "incident": "019ac000-0000-7000-8000-000000000011"},
                   "west-ramp": {"state": "free", "since_s_ago": 3600.0,
                                 "incident": "019ac000-0000-7000-8000-000000000012"}}}]})
ZONES_PARTS = replace(FIXED_PARTS, sensors=FIXED_SENSORS, fleet=FIXED_FLEET)
"""The Zones panel of a truck with city sensors, and a peer that reported zones."""
HQ_PARTS = Fetched(NOW_MS - 2000, health=FIXED_HEALTH, fleet=FIXED_FLEET)
"""A node without the sensors part (HQ): only the fleet's zones."""
