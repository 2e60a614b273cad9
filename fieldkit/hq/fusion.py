"""Fusing an emergency call with what the fleet sees.

A call becomes an incident (source ``call``), or joins the open analytics incident about
the same situation: a related kind, within ``hq.merge_distance_m`` of the caller, changed
within ``hq.merge_window_s`` (an incident placed only by camera or zone matches when that
camera's footprint covers the caller, or the zone is the caller's). Either way the cameras
whose ground footprint covers the caller and the nearest live drone are linked.

A camera's footprint is its frame projected on the ground through its calibration
homography (:class:`fieldkit.analytics.calibration.Calibration`), cut at the horizon and
at ``hq.camera_range_m`` from the calibrated area's centre. Only cameras calibrated in
lat/lon have a place on the map; HQ can list the trucks' cameras with
``cameras.enabled = false`` to know their footprints without running them.

Everything here runs on the store thread (``worker.call(take_call, ...)``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from fieldkit.analytics.config import CameraSection, CamerasSection
from fieldkit.errors import ConfigError
from fieldkit.fold import Incident
from fieldkit.hlc import wall_ms
from fieldkit.hq.calls import Call, CallContact, record_contact
from fieldkit.hq.config import HqSection
from fieldkit.log import IncidentLog
from fieldkit.storeapi import Connection
from fieldkit.vocabulary import IncidentKind, Source

logger = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG = 111_320.0
#: Kinds that describe the same situation seen two ways (a caller's word and a camera's).
RELATED_KINDS: tuple[frozenset[str], ...] = (
    frozenset({IncidentKind.CROWD_DENSITY, IncidentKind.CROWD_FLOW}),
    frozenset({IncidentKind.PERSON_DOWN, IncidentKind.MEDICAL}),
)
_FRAME_SIZES = ((640, 480), (1280, 720), (1920, 1080), (2560, 1440), (3840, 2160))
_MAX_NOTE = 3600


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def related(a: str, b: str) -> bool:
    """Whether two incident kinds can describe one situation: the same kind, or two of
    one group of :data:`RELATED_KINDS`. ``other`` is related to nothing else: a call
    about "something" must not vanish into whatever happens to be near."""
    return a == b or any(a in group and b in group for group in RELATED_KINDS)


@dataclass(frozen=True)
class Footprint:
    """The ground a camera sees: a convex polygon in metres east/north of ``origin``."""

    camera: str
    origin: tuple[float, float]
    """[lat, lon] of the local plane's origin (the calibration points' centre)."""
    polygon: tuple[tuple[float, float], ...]

    def local(self, lat: float, lon: float) -> tuple[float, float]:
        lat0, lon0 = self.origin
        return ((lon - lon0) * _M_PER_DEG * math.cos(math.radians(lat0)),
                (lat - lat0) * _M_PER_DEG)

    def covers(self, lat: float, lon: float) -> bool:
        x, y = self.local(lat, lon)
        poly = self.polygon
        if len(poly) < 3:
            return False
        signs = set()
        for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1], strict=True):
            cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
            if abs(cross) > 1e-9:
                signs.add(cross > 0)
        return len(signs) <= 1

    def latlon(self) -> list[tuple[float, float]]:
        """The polygon's corners as [lat, lon]."""
        lat0, lon0 = self.origin
        return [(lat0 + y / _M_PER_DEG, lon0 + x / (_M_PER_DEG * math.cos(math.radians(lat0))))
                for x, y in self.polygon]


def frame_size(camera: CameraSection) -> tuple[int, int]:
    """The camera's frame size: the synthetic scene's, or the smallest common size that
    holds every calibration image point."""
    if camera.source == "synthetic":
        return camera.scene.width, camera.scene.height
    assert camera.calibration is not None
    xs = [p[0] for p in camera.calibration.image]
    ys = [p[1] for p in camera.calibration.image]
    for w, h in _FRAME_SIZES:
        if max(xs) <= w and max(ys) <= h:
            return w, h
    return math.ceil(max(xs)), math.ceil(max(ys))


def camera_footprints(cameras: CamerasSection, range_m: float) -> list[Footprint]:
    """Footprints of the cameras calibrated in lat/lon (others are left out)."""
    found = []
    for camera in cameras.cameras:
        if camera.calibration is None or camera.calibration.units != "latlon":
            continue
        try:
            found.append(footprint(camera, range_m))
        except ConfigError as exc:
            logger.warning("camera %s has no usable footprint: %s", camera.name, exc)
    return found


def footprint(camera: CameraSection, range_m: float) -> Footprint:
    """Project a grid over the camera's frame to the ground and take its convex hull."""
    import numpy as np

    from fieldkit.analytics.calibration import Calibration

    assert camera.calibration is not None
    cal = Calibration(camera.calibration, camera.name)
    assert cal.origin is not None
    w, h = frame_size(camera)
    us, vs = np.meshgrid(np.linspace(0, w, 25), np.linspace(0, h, 25))
    ground = cal.image_to_ground(np.column_stack([us.ravel(), vs.ravel()]))
    ground = ground[np.all(np.isfinite(ground), axis=1)]
    norms = np.linalg.norm(ground, axis=1, keepdims=True)
    ground = np.where(norms > range_m, ground * (range_m / np.maximum(norms, 1e-9)), ground)
    hull = convex_hull([(float(x), float(y)) for x, y in ground])
    return Footprint(camera.name, (float(cal.origin[0]), float(cal.origin[1])), tuple(hull))


def convex_hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Andrew's monotone chain, counter-clockwise."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return pts

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


@dataclass(frozen=True)
class DronePosition:
    vehicle: str
    lat: float
    lon: float
    at_ms: int


def live_drones(conn: Connection, now_ms: int, max_age_s: float) -> list[DronePosition]:
    """Each vehicle's latest sampled position, if it arrived within ``max_age_s`` (a
    sample taken for a heartbeat may carry a position minutes old: its age says so)."""
    rows = conn.execute(
        "SELECT vehicle, lat, lon, at_ms - CAST(COALESCE(position_age_s, 0) * 1000 AS INTEGER)"
        " FROM drone_samples WHERE id IN (SELECT max(id) FROM drone_samples GROUP BY vehicle)"
        " AND lat IS NOT NULL AND lon IS NOT NULL"
        " AND at_ms - COALESCE(position_age_s, 0) * 1000 >= ? ORDER BY vehicle",
        [now_ms - int(max_age_s * 1000)])
    return [DronePosition(str(r[0]), float(r[1]), float(r[2]), int(r[3])) for r in rows]


@dataclass(frozen=True)
class CallOutcome:
    """What :func:`take_call` did."""

    incident: Incident
    merged: bool
    """True: the call joined an existing (analytics) incident."""
    distance_m: float | None = None
    """Caller to the merged incident, when both have a position."""
    cameras: list[str] = field(default_factory=list)
    """Cameras linked because their footprint covers the caller."""
    drone: str | None = None
    """The nearest live drone, linked."""


def _match_distance(incident: Incident, call: Call,
                    footprints: dict[str, Footprint]) -> float | None:
    """How far the incident is from the caller, 0 when matched by camera or zone, None
    when they cannot be the same place."""
    loc, where = incident.location or {}, call.location
    if where.lat is not None and where.lon is not None:
        if loc.get("lat") is not None:
            return distance_m(where.lat, where.lon, loc["lat"], loc["lon"])
        cam = footprints.get(loc.get("camera") or "")
        if cam is not None and cam.covers(where.lat, where.lon):
            return 0.0
    if where.zone is not None and loc.get("zone") == where.zone:
        return 0.0
    return None


def find_merge(log: IncidentLog, call: Call, hq: HqSection, footprints: list[Footprint],
               now_ms: int) -> tuple[Incident, float] | None:
    """The open analytics incident this call is about, with its distance, or None."""
    by_name = {f.camera: f for f in footprints}
    best: tuple[float, int, Incident] | None = None
    for incident in log.incidents(open_only=True):
        if incident.source != Source.ANALYTICS or not related(incident.kind, call.kind):
            continue
        if now_ms - incident.updated_at > hq.merge_window_s * 1000:
            continue
        dist = _match_distance(incident, call, by_name)
        if dist is None or dist > hq.merge_distance_m:
            continue
        key = (dist, -incident.updated_at, incident)
        if best is None or key[:2] < best[:2]:
            best = key
    return None if best is None else (best[2], best[0])


def take_call(log: IncidentLog, call: Call, hq: HqSection, footprints: list[Footprint],
              now_ms: int | None = None) -> CallOutcome:
    """Turn ``call`` into an incident or merge it; link cameras and the nearest drone;
    keep the callback number in the local table, all in one transaction. Runs on the
    store thread."""
    now = wall_ms() if now_ms is None else now_ms
    # One transaction: a call is taken whole (incident or merge, links, the caller's
    # number) or not at all, so a call-taker who retries after a crash files it once.
    with log.store.write() as conn:
        where = call.location
        match = find_merge(log, call, hq, footprints, now)
        said = call.description[:_MAX_NOTE]
        if match is not None:
            incident, dist = match
            log.add_note(incident.id, f"Emergency call ({call.kind.value}, severity "
                         f"{call.severity}, {dist:.0f} m from this incident): {said}")
            if call.severity > incident.severity:
                log.update(incident.id, {"severity": call.severity})
        else:
            incident = log.create(title=call.incident_title(), kind=call.kind.value,
                                  severity=call.severity, source=Source.CALL.value,
                                  location=where.model_dump(exclude_none=True),
                                  description=call.description)
            dist = None
        linked = {(link.target, link.ref) for link in incident.links}
        cameras: list[str] = []
        drone: str | None = None
        if where.lat is not None and where.lon is not None:
            cameras = [f.camera for f in footprints if f.covers(where.lat, where.lon)]
            lat, lon = where.lat, where.lon
            drones = live_drones(conn, now, hq.drone_max_age_s)
            if drones:
                drone = min(drones, key=lambda d: distance_m(lat, lon, d.lat, d.lon)).vehicle
        for name in cameras:
            if ("camera", name) not in linked:
                log.link(incident.id, "camera", name)
        if drone is not None and ("drone", drone) not in linked:
            log.link(incident.id, "drone", drone)
        if hq.share_callback_numbers:
            log.add_note(incident.id, f"Callback number: {call.callback}")
        record_contact(conn, CallContact(incident.id, now, call.callback, match is not None))
    logger.info("call %s incident %s (%d camera(s), drone %s)",
                "merged into" if match else "opened", incident.id, len(cameras), drone or "-")
    return CallOutcome(log.get(incident.id), match is not None, dist, cameras, drone)
