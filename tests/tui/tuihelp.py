"""Console test helpers: wait for a condition by pumping the app, fixed incidents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from fieldkit.fold import Incident

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


FIXED_HEALTH: dict[str, Any] = {
    "status": "ok", "node": "T01", "role": "truck", "events": 42, "incidents": 5,
    "origins": {"T01": 30, "T02": 12},
}
