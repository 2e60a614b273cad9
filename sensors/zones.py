"""Zones as the city's sensors see them: occupancy, flow per metre and a state.

A gated zone's occupancy is its entries minus its exits since the last anchor, with a
band that widens with every crossing counted (counters miss and double people). The
estimate drifts, so it is corrected: an absolute count of the zone (a people counter, the
venue's occupancy) re-anchors it, and an estimate below zero is reset to zero. Both
corrections are reported as drift. Flow is people per second through the zone's exits
over a window, divided by their width.

The state (free < dense < congested < blocked; unknown when no source is fresh) comes
from the worst level among the zone's fresh sources. It changes only after the new level
has held for the dwell time, and it is left downwards only once the measure has fallen
the hysteresis share below the threshold (so a zone on a threshold does not flap).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from sensors.cameras import FRESH_MS, CameraSight
from sensors.config import SensorKind, SensorSection, SensorsSection, SensorZoneSection, ZoneKind
from sensors.readings import Reading

STALE_INTERVALS = 3
"""A source silent for this many expected intervals is no longer used (and is faulty)."""


class ZoneState(IntEnum):
    UNKNOWN = -1
    FREE = 0
    DENSE = 1
    CONGESTED = 2
    BLOCKED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


def level_of(value: float, thresholds: tuple[float, float, float], current: ZoneState,
             hysteresis: float) -> ZoneState:
    """The level ``value`` reaches; thresholds at or below ``current`` are lowered by the
    hysteresis share, so leaving a state takes a clear fall."""
    level = ZoneState.FREE
    for i, threshold in enumerate(thresholds, start=1):
        if i <= current:
            threshold *= 1 - hysteresis
        if value >= threshold:
            level = ZoneState(i)
    return level


@dataclass
class SensorTrack:
    """What one sensor has said lately (its latest reading by the sensor's time)."""

    section: SensorSection
    last: Reading | None = None
    received: int = 0
    out_of_order: int = 0
    rejected: int = 0
    last_error: str | None = None

    def age_ms(self, now_ms: int) -> int | None:
        return None if self.last is None else max(0, now_ms - self.last.received_ms)

    @property
    def limit_ms(self) -> float:
        """Silent longer than this, the sensor is stale (and faulty)."""
        return STALE_INTERVALS * self.section.expected_interval_s * 1000

    def fresh(self, now_ms: int) -> bool:
        age = self.age_ms(now_ms)
        return age is not None and age <= self.limit_ms

    def fault(self, now_ms: int, started_ms: int) -> str | None:
        """``never heard`` or ``silent N s`` once beyond the limit (a sensor never heard
        gets the limit's grace from ``started_ms``); None while it reports."""
        age = self.age_ms(now_ms)
        if age is None:
            return "never heard" if now_ms - started_ms > self.limit_ms else None
        return f"silent {age / 1000:.0f} s" if age > self.limit_ms else None

    def to_json(self, now_ms: int, started_ms: int) -> dict[str, Any]:
        age = self.age_ms(now_ms)
        return {"id": self.section.id, "kind": self.section.kind.value, "zone": self.section.zone,
                "value": self.last.value if self.last else None,
                "age_s": None if age is None else round(age / 1000, 1),
                "expected_interval_s": self.section.expected_interval_s,
                "healthy": self.fresh(now_ms), "fault": self.fault(now_ms, started_ms),
                "received": self.received, "out_of_order": self.out_of_order,
                "rejected": self.rejected, "last_error": self.last_error}


@dataclass(frozen=True, slots=True)
class Density:
    """One fresh source's persons/m² over a pedestrian zone."""

    value: float
    band: tuple[float, float] | None
    """Low and high bound, when the source gives one."""
    source: str
    """``sensors`` or ``camera NAME``."""
    method: str | None
    """How it was counted."""


@dataclass
class Zone:
    """One zone's measures and state, fed with readings in arrival order."""

    section: SensorZoneSection
    settings: SensorsSection
    sensors: list[SensorTrack] = field(default_factory=list)
    anchor: float = 0.0
    """Occupancy at the last anchor (absolute count or reset)."""
    net: float = 0.0
    """Entries minus exits since the anchor."""
    crossings: float = 0.0
    """Entries plus exits since the anchor (for the band)."""
    drift: float | None = None
    """Estimate minus truth at the last correction."""
    anchored: bool = False
    """An absolute count has set the occupancy; before that it counts from an empty zone."""
    flows: deque[tuple[int, float, float]] = field(default_factory=deque)
    """(at_ms, in, out) crossings, for the flow window."""
    flow_in: float = 0.0
    flow_out: float = 0.0
    """Sums over ``flows``, kept as they change."""
    counting_since_ms: int | None = None
    """First crossing total seen: flows average over at most the time since."""
    state: ZoneState = ZoneState.UNKNOWN
    since_ms: int = 0
    """When the zone took its state (the board's start while unknown from the start)."""
    pending: ZoneState | None = None
    pending_ms: int = 0
    camera: CameraSight | None = None
    """What a camera over the same ground saw last (see :mod:`sensors.cameras`)."""

    @property
    def gated(self) -> bool:
        return any(t.section.kind.crossing or t.section.kind.absolute for t in self.sensors)

    @property
    def occupancy(self) -> float:
        return max(0.0, self.anchor + self.net)

    def occupancy_band(self) -> tuple[float, float]:
        """Counters miss and double people: the band widens with every crossing."""
        band = self.crossings * self.settings.counter_error
        return max(0.0, self.occupancy - band), self.occupancy + band

    def counting_method(self) -> str:
        if not any(t.section.kind.crossing for t in self.sensors):
            return "people count"
        return "entries-exits, anchored" if self.anchored else "entries-exits from empty"

    def apply(self, track: SensorTrack, reading: Reading) -> None:
        """Fold one reading from ``track`` (a sensor of this zone) into the measures."""
        previous = track.last
        kind = reading.kind
        if kind.crossing and self.counting_since_ms is None:
            self.counting_since_ms = reading.at_ms
        if kind.crossing and previous is not None:
            # A total that drops is a reset: the new total is what was counted since.
            delta = reading.value - previous.value
            if delta < 0:
                delta = reading.value
            signed = delta * kind.crossing
            self.net += signed
            self.crossings += delta
            flow_in, flow_out = max(signed, 0.0), max(-signed, 0.0)
            self.flows.append((reading.at_ms, flow_in, flow_out))
            self.flow_in += flow_in
            self.flow_out += flow_out
            if self.anchor + self.net < 0:
                self._correct(0.0)
        elif kind.absolute:
            self._correct(reading.value, absolute=True)

    def _correct(self, truth: float, absolute: bool = False) -> None:
        if self.anchored or not absolute:  # a first count sets the level: no drift yet
            self.drift = round(self.anchor + self.net - truth, 1)
        self.anchored = self.anchored or absolute
        self.anchor, self.net, self.crossings = truth, 0.0, 0.0

    def flow(self, now_ms: int) -> tuple[float | None, float | None]:
        """(inflow, outflow) persons/s over the window (None: no crossing counters)."""
        window_ms = self.settings.flow_window_s * 1000
        while self.flows and self.flows[0][0] < now_ms - window_ms:
            _, gone_in, gone_out = self.flows.popleft()
            self.flow_in -= gone_in
            self.flow_out -= gone_out
        if not self.flows:  # no drift of the running sums when the window empties
            self.flow_in = self.flow_out = 0.0
        if not any(t.section.kind.crossing and t.fresh(now_ms) for t in self.sensors):
            return None, None
        # A window not yet filled averages over the time counted (at least a second).
        counted_s = (now_ms - (self.counting_since_ms or now_ms)) / 1000
        seconds = max(1.0, min(self.settings.flow_window_s, counted_s))
        return max(0.0, self.flow_in) / seconds, max(0.0, self.flow_out) / seconds

    def measure(self, now_ms: int) -> tuple[str, float] | None:
        """(what, value) the state is judged on, from fresh sources (None: none fresh)."""
        fresh = [t for t in self.sensors if t.fresh(now_ms) and t.last is not None]
        if self.section.kind is ZoneKind.ROAD:
            occ = [t.last.value for t in fresh if t.section.kind is SensorKind.ROAD_OCCUPANCY
                   if t.last is not None]
            return ("road_occupancy", max(occ)) if occ else None
        densities = self.densities(now_ms)
        return ("density", max(d.value for d in densities)) if densities else None

    def densities(self, now_ms: int) -> list[Density]:
        """Persons/m² from each fresh source: the gated count, a camera over the zone."""
        out = []
        if any((t.section.kind.crossing or t.section.kind.absolute) and t.fresh(now_ms)
               for t in self.sensors):
            area = self.section.area_m2
            low, high = self.occupancy_band()
            out.append(Density(self.occupancy / area, (low / area, high / area), "sensors",
                               self.counting_method()))
        if self.camera is not None and now_ms - self.camera.end_ms <= FRESH_MS:
            out.append(Density(self.camera.density, self.camera.band,
                               f"camera {self.camera.camera}", self.camera.method))
        return out

    def newest_ms(self) -> int | None:
        """When its newest datum (reading or camera window) arrived; None: none ever."""
        times = [t.last.received_ms for t in self.sensors if t.last is not None]
        if self.camera is not None:
            times.append(self.camera.end_ms)
        return max(times, default=None)

    def evaluate(self, now_ms: int) -> ZoneState | None:
        """Advance the state machine to ``now_ms``; returns the new state when it changed."""
        measured = self.measure(now_ms)
        levels = self.settings.levels
        if measured is None:
            target = ZoneState.UNKNOWN
        else:
            what, value = measured
            thresholds = levels.density if what == "density" else levels.road_occupancy
            target = level_of(value, thresholds, self.state, levels.hysteresis)
        if target == self.state:
            self.pending = None
            return None
        if target != self.pending:
            self.pending, self.pending_ms = target, now_ms
        # Unknown is not a judgement of the crowd: it holds at once, and leaving it needs
        # no dwell either (the first fresh reading tells).
        no_dwell = ZoneState.UNKNOWN in (target, self.state)
        if no_dwell or now_ms - self.pending_ms >= self.settings.dwell_s * 1000:
            self.state, self.since_ms, self.pending = target, now_ms, None
            return target
        return None

    def spare_capacity(self, now_ms: int) -> float | None:
        """People it could still take before it turns dense (None: unknown)."""
        if self.measure(now_ms) is None or self.section.kind is ZoneKind.ROAD:
            return None
        dense = self.settings.levels.density[0] * self.section.area_m2
        return max(0.0, dense - self.occupancy)

    def to_json(self, now_ms: int) -> dict[str, Any]:
        inflow, outflow = self.flow(now_ms)
        measured = self.measure(now_ms)
        width = self.section.exit_width_m
        gated = self.gated and self.section.kind is ZoneKind.PEDESTRIAN
        judged = max(self.densities(now_ms), key=lambda d: d.value, default=None)
        newest = self.newest_ms()
        return {
            "zone": self.section.name, "kind": self.section.kind.value,
            "state": self.state.label, "since_ms": self.since_ms,
            "state_age_s": round(max(0, now_ms - self.since_ms) / 1000, 1),
            "measure": measured[0] if measured else None,
            "value": round(measured[1], 3) if measured else None,
            "density": None if judged is None else round(judged.value, 3),
            "density_band": None if judged is None or judged.band is None else
            [round(judged.band[0], 3), round(judged.band[1], 3)],
            "density_source": None if judged is None else judged.source,
            "density_method": None if judged is None else judged.method,
            "age_s": None if newest is None else round(max(0, now_ms - newest) / 1000, 1),
            "occupancy": round(self.occupancy, 1) if gated else None,
            "occupancy_band": ([round(b, 1) for b in self.occupancy_band()] if gated
                               else None),
            "anchored": self.anchored if gated else None,
            "drift": self.drift,
            "inflow_p_s": _round(inflow), "outflow_p_s": _round(outflow),
            "outflow_pm_s": _round(None if outflow is None else outflow / width),
            "spare_capacity": _round(self.spare_capacity(now_ms)),
            "camera": None if self.camera is None else {
                "camera": self.camera.camera, "count": round(self.camera.count, 1),
                "density": round(self.camera.density, 3), "band": self.camera.band,
                "age_s": round(max(0, now_ms - self.camera.end_ms) / 1000, 1)},
            "camera_difference": (round(self.occupancy - self.camera.count, 1)
                                  if self.camera is not None and gated else None),
            "sensors": [t.section.id for t in self.sensors],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class ZoneBoard:
    """Every declared sensor and zone; readings go in, zone states come out."""

    def __init__(self, settings: SensorsSection, started_ms: int) -> None:
        self.settings = settings
        self.started_ms = started_ms
        """When the node began to listen: a sensor never heard is faulty only after its
        limit from here, and a zone is unknown since here until a source is fresh."""
        self.tracks = {s.id: SensorTrack(s) for s in settings.sensors}
        self.zones = {z.name: Zone(z, settings, since_ms=started_ms) for z in settings.zones}
        for track in self.tracks.values():
            if track.section.zone is not None:
                self.zones[track.section.zone].sensors.append(track)

    def apply(self, reading: Reading) -> None:
        """Fold one accepted reading in; a reading older than the sensor's latest is
        counted as out of order and changes nothing (totals already include it)."""
        track = self.tracks[reading.sensor]
        track.received += 1
        if track.last is not None and reading.at_ms < track.last.at_ms:
            track.out_of_order += 1
            return
        if reading.zone is not None:
            self.zones[reading.zone].apply(track, reading)
        track.last = reading

    def see(self, sights: dict[str, CameraSight]) -> None:
        """The cameras' latest windows over the zones (pedestrian zones only)."""
        for name, zone in self.zones.items():
            if zone.section.kind is ZoneKind.PEDESTRIAN:
                zone.camera = sights.get(name, zone.camera)

    def reject(self, sensor: str, error: str) -> None:
        track = self.tracks.get(sensor)
        if track is not None:
            track.rejected += 1
            track.last_error = error

    def evaluate(self, now_ms: int) -> list[Zone]:
        """Advance every zone; returns the zones whose state changed."""
        return [z for z in self.zones.values() if z.evaluate(now_ms) is not None]

    def snapshot(self, now_ms: int) -> dict[str, Any]:
        return {"zones": [z.to_json(now_ms) for z in self.zones.values()],
                "sensors": [t.to_json(now_ms, self.started_ms) for t in self.tracks.values()]}
