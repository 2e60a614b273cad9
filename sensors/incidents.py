"""The decision aid: zone states, low outflow and silent sensors as incidents.

Three situations, raised, updated and cleared through :mod:`fieldkit.alerts`:

- ``zone:NAME`` / ``state``: the zone is dense (severity 2), congested (3) or blocked (4).
  The incident lists the measured inflow and outflow and the neighbouring zones with
  spare capacity (from their area and current density), so the crew can see where to
  send people. It follows the state (an update per change, which dwell and hysteresis
  keep rare) and is resolved when the zone is free again. Peers see the state through
  it: readings stay on the node, this incident syncs.
- ``zone:NAME`` / ``outflow``: a congested or blocked zone whose exits pass fewer than
  ``min_outflow_pm_s`` persons per metre per second for the dwell time (severity 4).
- ``sensors`` / ``silent``: one incident naming every sensor silent beyond
  ``STALE_INTERVALS`` of its expected interval; cleared when all report again.

A zone whose sensors are all silent is ``unknown``: its incident is left as it is (the
silent-sensor incident says why), neither cleared nor worsened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from fieldkit.alerts import Alert, Outcome, clear, open_alerts, raise_or_update
from fieldkit.vocabulary import IncidentKind, Source
from fieldkit.worker import LogWorker
from sensors.config import ZoneKind
from sensors.zones import Zone, ZoneBoard, ZoneState

logger = logging.getLogger(__name__)

SEVERITY = {ZoneState.DENSE: 2, ZoneState.CONGESTED: 3, ZoneState.BLOCKED: 4}
"""Severity of a zone's incident per state; peers read the state back from it."""
STATE_OF_SEVERITY = {v: k for k, v in SEVERITY.items()}
OUTFLOW_SEVERITY = 4
Key = tuple[str, str]


def _where(zone: Zone) -> dict[str, object]:
    place: dict[str, object] = {"zone": zone.section.name}
    if zone.section.position is not None:
        place.update(lat=zone.section.position[0], lon=zone.section.position[1])
    return place


def _fmt(value: float | None, unit: str) -> str:
    return "unknown" if value is None else f"{value:.2f} {unit}"


def describe(board: ZoneBoard, zone: Zone, now_ms: int) -> str:
    """What the crew needs: the measure, the flows, and where there is room."""
    data = zone.to_json(now_ms)
    lines = [f"{zone.section.name}: {data['state']} ({data['measure']} {data['value']})."]
    if data["occupancy"] is not None:
        low, high = data["occupancy_band"]
        basis = "" if data["anchored"] else ", counted from an assumed empty zone"
        lines.append(f"About {data['occupancy']:.0f} people ({low:.0f}-{high:.0f}{basis}) on "
                     f"{zone.section.area_m2:g} m².")
    lines.append(f"Inflow {_fmt(data['inflow_p_s'], 'p/s')}, outflow "
                 f"{_fmt(data['outflow_p_s'], 'p/s')} ({_fmt(data['outflow_pm_s'], 'p/m/s')} "
                 f"over {zone.section.exit_width_m:g} m of exits).")
    room = []
    for name in zone.section.neighbours:
        other = board.zones[name]
        spare = other.spare_capacity(now_ms)
        room.append((spare if spare is not None else -1.0, name, other.state.label, spare))
    if room:
        parts = [f"{name} room for {spare:.0f} ({state})" if spare is not None
                 else f"{name} unknown (no fresh sensor)"
                 for _, name, state, spare in sorted(room, reverse=True)]
        lines.append("Neighbours: " + "; ".join(parts) + ".")
    return " ".join(lines)


def zone_alert(board: ZoneBoard, zone: Zone, now_ms: int) -> Alert:
    kind = IncidentKind.TRAFFIC if zone.section.kind is ZoneKind.ROAD else \
        IncidentKind.CROWD_DENSITY
    return Alert(f"zone:{zone.section.name}", "state", f"{zone.section.name} {zone.state.label}",
                 kind.value, SEVERITY[zone.state], Source.SENSOR.value,
                 describe(board, zone, now_ms), _where(zone))


def silent_alert(board: ZoneBoard, now_ms: int) -> Alert | None:
    """One alert naming every sensor silent beyond its limit (None: all report)."""
    silent = [f"{track.section.id} ({fault})" for track in board.tracks.values()
              if (fault := track.fault(now_ms, board.started_ms)) is not None]
    if not silent:
        return None
    return Alert("sensors", "silent", f"{len(silent)} city sensor(s) silent",
                 IncidentKind.SENSOR_FAULT.value, 2, Source.SENSOR.value,
                 "Silent beyond 3 expected intervals: " + ", ".join(silent)
                 + ". Their zones are judged without them (or unknown).")


@dataclass
class Dwell:
    """A condition that counts only once it has held for ``seconds`` (and stops counting
    only once it has been false as long)."""

    seconds: float
    active: bool = False
    changing_since: int | None = None

    def update(self, holds: bool, now_ms: int) -> bool:
        if holds == self.active:
            self.changing_since = None
        elif self.changing_since is None:
            self.changing_since = now_ms
        if self.changing_since is not None and \
                now_ms - self.changing_since >= self.seconds * 1000:
            self.active, self.changing_since = holds, None
        return self.active


@dataclass
class SensorWatch:
    """Keeps the incident log in step with the board; calls the store only on change."""

    worker: LogWorker
    board: ZoneBoard
    asked: dict[Key, tuple[str, int] | None] = field(default_factory=dict)
    outflow: dict[str, Dwell] = field(default_factory=dict)

    async def load(self) -> None:
        """Take over the alerts a previous run left open (titles unknown: re-asserted)."""
        held = await self.worker.call(open_alerts, self.worker.log.store)
        for a in held:
            if a.subject == "sensors" or a.subject.startswith("zone:"):
                self.asked[(a.subject, a.rule)] = ("", a.severity)

    def wanted(self, now_ms: int) -> dict[Key, Alert | None]:
        """Every watched situation: its alert, or None when it does not hold."""
        out: dict[Key, Alert | None] = {}
        settings = self.board.settings
        for zone in self.board.zones.values():
            subject = f"zone:{zone.section.name}"
            if zone.state is not ZoneState.UNKNOWN:
                out[(subject, "state")] = (zone_alert(self.board, zone, now_ms)
                                           if zone.state in SEVERITY else None)
            _, outflow = zone.flow(now_ms)
            width = zone.section.exit_width_m
            low = (zone.state >= ZoneState.CONGESTED and outflow is not None
                   and outflow / width < settings.min_outflow_pm_s)
            dwell = self.outflow.setdefault(zone.section.name, Dwell(settings.dwell_s))
            out[(subject, "outflow")] = Alert(
                subject, "outflow", f"{zone.section.name}: low outflow under high density",
                IncidentKind.CROWD_FLOW.value, OUTFLOW_SEVERITY, Source.SENSOR.value,
                f"Exits pass {outflow / width:.2f} p/m/s, under the "
                f"{settings.min_outflow_pm_s:g} p/m/s where crowds turn turbulent "
                f"(Helbing et al. 2007). " + describe(self.board, zone, now_ms),
                _where(zone)) if dwell.update(low, now_ms) and outflow is not None else None
        out[("sensors", "silent")] = silent_alert(self.board, now_ms)
        return out

    async def step(self, now_ms: int) -> list[Outcome]:
        """Raise, update or clear what changed since the last step."""
        outcomes = []
        for key, alert in self.wanted(now_ms).items():
            signature = None if alert is None else (alert.title, alert.severity)
            if self.asked.get(key) == signature or (alert is None and key not in self.asked):
                continue
            if alert is not None:
                outcomes.append(await self.worker.call(raise_or_update, self.worker.log, alert))
            else:
                await self.worker.call(clear, self.worker.log, *key,
                                       resolve="cleared: measured back to normal")
            self.asked[key] = signature
        return outcomes
