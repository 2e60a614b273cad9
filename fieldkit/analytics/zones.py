"""Zones on the ground, what is measured in them, and the stored time series.

Per analysed frame each zone gets a :class:`ZoneState` (people inside, persons/m², Fruin
level of service, flow speed and bearing, counter-flow and stationary shares); the rules
read those. Every ``window_s`` the states are averaged into a :class:`ZoneMetrics` row
of the ``zone_metrics`` table.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from fieldkit.analytics.calibration import Calibration, polygon_area
from fieldkit.analytics.config import ZoneSection
from fieldkit.analytics.estimate import Estimate, detector_estimate
from fieldkit.analytics.tracker import Track
from fieldkit.storeapi import Connection

#: Fruin's walkway levels of service: (letter, most persons/m²).
FRUIN_WALKWAY = (("A", 0.31), ("B", 0.43), ("C", 0.72), ("D", 1.08), ("E", 2.17))
MOVING_M_S = 0.3
STILL_M_S = 0.2
COUNTER_DEG = 120.0
#: Height of a head above the ground, metres (where the density map puts a person).
HEAD_M = 1.6


def fruin_level(density: float) -> str:
    """Level of service A..F for a walkway at ``density`` persons/m²."""
    return next((letter for letter, most in FRUIN_WALKWAY if density <= most), "F")


def bearing(vx: float, vy: float) -> float:
    """Ground bearing in degrees: 0 = +y, 90 = +x."""
    return math.degrees(math.atan2(vx, vy)) % 360


def angle_between(a: float, b: float) -> float:
    d = abs(a - b) % 360
    return 360 - d if d > 180 else d


class Zone:
    """A polygon on the ground of one camera."""

    def __init__(self, section: ZoneSection, calibration: Calibration) -> None:
        self.name = section.name
        self.capacity = section.capacity
        self.direction_deg = section.direction_deg
        self.polygon = calibration.ground_polygon(section.polygon)
        self.area_m2 = polygon_area(self.polygon)
        self.image_polygon = calibration.ground_to_image(self.polygon)
        east = calibration.ground_to_image(self.polygon + np.array([1.0, 0.0]))
        self.px_per_m = np.hypot(*(east - self.image_polygon).T)
        """Pixels per ground metre at each corner (the scale of a person standing there)."""
        # Where the heads of people standing in the zone are: each corner raised by a
        # person's height (the calibration is of the ground; the picture's scale at a
        # corner stands in for the vertical one).
        self.head_polygon = self.image_polygon - np.outer(HEAD_M * self.px_per_m, [0.0, 1.0])

    def contains(self, x: float, y: float) -> bool:
        """Even-odd ray casting."""
        poly = self.polygon
        inside = False
        j = len(poly) - 1
        for i in range(len(poly)):
            xi, yi, xj, yj = poly[i, 0], poly[i, 1], poly[j, 0], poly[j, 1]
            if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
                inside = not inside
            j = i
        return inside


@dataclass(frozen=True, slots=True)
class ZoneState:
    """One zone as of one analysed frame."""

    zone: str
    t: float
    count: int
    density: float
    """Persons/m²."""
    level: str
    """Fruin level of service, A..F."""
    speed_m_s: float | None
    """Mean speed of the people moving (None: nobody moving)."""
    direction_deg: float | None
    """Bearing of the main flow."""
    moving: int
    counter_flow_share: float
    """Share of moving people walking against the expected (or main) direction."""
    stationary_share: float
    """Share of people with a known speed who stand still."""
    track_ids: tuple[int, ...] = ()
    density_low: float = 0.0
    """Lower end of the persons/m² band."""
    density_high: float = 0.0
    """Upper end of the persons/m² band."""
    method: str = "detector"
    """How the count was found: detector, density (map) or fused."""
    uncertain: str = ""
    """Why the count should not be trusted (empty: within what was validated)."""

    def with_estimate(self, est: Estimate, area_m2: float) -> ZoneState:
        """This state with the count, density and band of ``est``."""
        area = area_m2 if area_m2 > 0 else math.inf
        count = round(est.count)
        return replace(self, count=count, density=est.count / area,
                       level=fruin_level(est.count / area), density_low=est.low / area,
                       density_high=est.high / area, method=est.method,
                       uncertain=est.uncertain)


def measure(zone: Zone, tracks: list[Track], t: float,
            people: np.ndarray | None = None) -> ZoneState:
    """The state of ``zone`` from the tracks of one frame. The count comes from
    ``people`` (ground positions of this frame's detections) when given: a track needs
    two matches to start, a count should not wait for it."""
    inside = [tr for tr in tracks if tr.ground is not None and zone.contains(*tr.ground)]
    count = len(inside)
    if people is not None:
        count = sum(1 for g in people if not np.isnan(g).any() and zone.contains(*g))
    with_speed = [tr for tr in inside if tr.velocity is not None]
    moving = [tr for tr in with_speed if (tr.speed or 0.0) >= MOVING_M_S]
    still = [tr for tr in with_speed if (tr.speed or 0.0) < STILL_M_S]
    speed = direction = None
    counter = 0.0
    if moving:
        vs = np.array([tr.velocity for tr in moving])
        speed = float(np.linalg.norm(vs, axis=1).mean())
        unit = vs / np.linalg.norm(vs, axis=1, keepdims=True)
        mean = unit.mean(axis=0)
        main = zone.direction_deg
        if main is None and np.linalg.norm(mean) > 1e-6:
            main = bearing(float(mean[0]), float(mean[1]))
        direction = main
        if main is not None:
            against = sum(angle_between(bearing(float(v[0]), float(v[1])), main) > COUNTER_DEG
                          for v in vs)
            counter = against / len(moving)
    state = ZoneState(zone.name, t, count, 0.0, "A", speed, direction, len(moving), counter,
                      len(still) / len(with_speed) if with_speed else 0.0,
                      tuple(tr.id for tr in inside))
    return state.with_estimate(detector_estimate(count), zone.area_m2)


@dataclass(frozen=True, slots=True)
class ZoneMetrics:
    """One zone over one window: a row of the ``zone_metrics`` time series."""

    camera: str
    zone: str
    start_ms: int
    end_ms: int
    samples: int
    count: float
    """Mean people in the zone."""
    peak: int
    density: float
    """Mean persons/m²."""
    level: str
    speed_m_s: float | None
    direction_deg: float | None
    counter_flow_share: float
    stationary_share: float
    density_low: float | None = None
    """Mean lower end of the persons/m² band."""
    density_high: float | None = None
    """Mean upper end of the persons/m² band."""
    method: str | None = None
    """detector, density or fused: the one used most in the window."""
    uncertain: str | None = None
    """The last reason the estimate was uncertain in the window (None: never)."""

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WindowAccumulator:
    """Averages :class:`ZoneState` samples into :class:`ZoneMetrics` per window."""

    camera: str
    zone: str
    start_ms: int
    states: list[ZoneState] = field(default_factory=list)

    def add(self, state: ZoneState) -> None:
        self.states.append(state)

    def close(self, end_ms: int) -> ZoneMetrics | None:
        s = self.states
        if not s:
            return None
        density = float(np.mean([x.density for x in s]))
        speeds = [x.speed_m_s for x in s if x.speed_m_s is not None]
        dirs = [x.direction_deg for x in s if x.direction_deg is not None]
        direction = None
        if dirs:
            rad = np.radians(dirs)
            direction = bearing(float(np.sin(rad).mean()), float(np.cos(rad).mean()))
        return ZoneMetrics(
            self.camera, self.zone, self.start_ms, end_ms, len(s),
            round(float(np.mean([x.count for x in s])), 3), max(x.count for x in s),
            round(density, 4), fruin_level(density),
            round(float(np.mean(speeds)), 3) if speeds else None,
            round(direction, 1) if direction is not None else None,
            round(float(np.mean([x.counter_flow_share for x in s])), 3),
            round(float(np.mean([x.stationary_share for x in s])), 3),
            round(float(np.mean([x.density_low for x in s])), 4),
            round(float(np.mean([x.density_high for x in s])), 4),
            Counter(x.method for x in s).most_common(1)[0][0],
            next((x.uncertain for x in reversed(s) if x.uncertain), None))


_COLUMNS = ("camera", "zone", "start_ms", "end_ms", "samples", "count", "peak", "density",
            "level", "speed_m_s", "direction_deg", "counter_flow_share", "stationary_share",
            "density_low", "density_high", "method", "uncertain")


def store_metrics(conn: Connection, rows: list[ZoneMetrics]) -> None:
    """Append rows to ``zone_metrics`` (inside the caller's transaction)."""
    conn.executemany(
        f"INSERT INTO zone_metrics ({', '.join(_COLUMNS)}) VALUES "
        f"({', '.join('?' for _ in _COLUMNS)})",
        [tuple(getattr(r, c) for c in _COLUMNS) for r in rows])


def read_metrics(conn: Connection, camera: str, zone: str | None = None,
                 since_ms: int = 0) -> list[ZoneMetrics]:
    """Stored rows of one camera (and zone), oldest first."""
    sql = f"SELECT {', '.join(_COLUMNS)} FROM zone_metrics WHERE camera = ? AND start_ms >= ?"
    args: list[Any] = [camera, since_ms]
    if zone is not None:
        sql += " AND zone = ?"
        args.append(zone)
    return [ZoneMetrics(*row) for row in conn.execute(sql + " ORDER BY start_ms", args)]
