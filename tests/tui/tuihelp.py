"""Console test helpers: wait for a condition by pumping the app, fixed incidents."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from fieldkit.fold import Incident
from fieldkit.views import (
    CamerasView,
    CameraView,
    DronesView,
    DroneView,
    HealthView,
    PeerView,
    SyncStatusView,
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
