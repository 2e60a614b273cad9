"""A GTFS feed (zip or directory), reduced to what the watched stations need.

Read: ``stops.txt``, ``routes.txt``, ``trips.txt``, ``stop_times.txt`` (and
``agency.txt``'s time zone when present). For each watched station: its stops (itself and
the stops whose ``parent_station`` it is), the trips and routes that call there, and the
scheduled departures, from which the usual headway around a time of day is taken.

A feed that is truncated (a missing file or column, a cut zip) or inconsistent (a stop
time naming a trip or stop the feed does not hold, a time that is not H:MM:SS) raises
:class:`TransitError` naming the file, the row and the value.
"""

from __future__ import annotations

import csv
import io
import itertools
import statistics
import zipfile
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fieldkit.errors import IngestError

REQUIRED = {
    "stops.txt": ("stop_id",),
    "routes.txt": ("route_id",),
    "trips.txt": ("route_id", "trip_id"),
    "stop_times.txt": ("trip_id", "stop_id", "departure_time"),
}
HEADWAY_WINDOW_S = 3600
"""Departures within this long of the time asked about set the usual headway."""


class TransitError(IngestError):
    """A GTFS or GTFS-realtime feed cannot be read or does not hold together."""


@dataclass
class Station:
    """A watched station as the schedule knows it."""

    stop_id: str
    name: str
    lat: float | None
    lon: float | None
    stops: set[str] = field(default_factory=set)
    trips: set[str] = field(default_factory=set)
    routes: set[str] = field(default_factory=set)
    departures: list[int] = field(default_factory=list)
    """Scheduled departures, seconds after midnight (service day), sorted."""

    def headway_s(self, seconds_of_day: int) -> float | None:
        """The median gap between scheduled departures within an hour of the time given
        (None: fewer than two departures there)."""
        lo = bisect_left(self.departures, seconds_of_day - HEADWAY_WINDOW_S)
        hi = bisect_left(self.departures, seconds_of_day + HEADWAY_WINDOW_S)
        near = sorted(set(self.departures[lo:hi]))
        gaps = [b - a for a, b in itertools.pairwise(near)]
        return float(statistics.median(gaps)) if gaps else None


@dataclass
class Schedule:
    timezone: str
    stations: dict[str, Station]


def _time(value: str, where: str) -> int:
    parts = value.strip().split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise TransitError(f"{where}: time {value!r} is not H:MM:SS")
    h, m, s = (int(p) for p in parts)
    return h * 3600 + m * 60 + s


class _Files:
    """The feed's files, from a zip's bytes or a directory."""

    def __init__(self, source: bytes | Path, name: str) -> None:
        self.name = name
        self._zip: zipfile.ZipFile | None = None
        self._dir: Path | None = None
        if isinstance(source, Path) and source.is_dir():
            self._dir = source
            return
        data = source.read_bytes() if isinstance(source, Path) else source
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise TransitError(f"GTFS {name}: not a zip file (truncated?): {exc}") from exc

    def rows(self, filename: str, optional: bool = False) -> list[dict[str, str]]:
        where = f"GTFS {self.name}: {filename}"
        try:
            if self._dir is not None:
                text = (self._dir / filename).read_text(encoding="utf-8-sig")
            else:
                assert self._zip is not None
                text = self._zip.read(filename).decode("utf-8-sig")
        except (FileNotFoundError, KeyError):
            if optional:
                return []
            raise TransitError(f"{where}: missing") from None
        except (OSError, zipfile.BadZipFile, UnicodeDecodeError, EOFError) as exc:
            raise TransitError(f"{where}: cannot be read: {exc}") from exc
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in REQUIRED.get(filename, ()) if c not in (reader.fieldnames or [])]
        if missing:
            raise TransitError(f"{where}: missing column(s) {', '.join(missing)}")
        try:
            return list(reader)
        except csv.Error as exc:
            raise TransitError(f"{where}: line {reader.line_num}: {exc}") from exc


def load_schedule(source: bytes | Path, name: str, station_ids: list[str]) -> Schedule:
    """Read the feed and keep what ``station_ids`` need (blocking: run in a thread)."""
    files = _Files(source, name)
    agency = files.rows("agency.txt", optional=True)
    timezone = (agency[0].get("agency_timezone") or "UTC") if agency else "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise TransitError(f"GTFS {name}: agency.txt: agency_timezone {timezone!r} is not "
                           "a time zone") from None
    stops = {r["stop_id"]: r for r in files.rows("stops.txt")}
    stations: dict[str, Station] = {}
    for sid in station_ids:
        row = stops.get(sid)
        if row is None:
            raise TransitError(f"GTFS {name}: stops.txt: watched station {sid!r} is not there")
        stations[sid] = Station(sid, row.get("stop_name") or sid, _float(row.get("stop_lat")),
                                _float(row.get("stop_lon")), {sid})
    station_of: dict[str, str] = {sid: sid for sid in stations}
    for stop_id, row in stops.items():
        parent = row.get("parent_station") or ""
        if parent in stations:
            stations[parent].stops.add(stop_id)
            station_of[stop_id] = parent
    routes = {r["route_id"] for r in files.rows("routes.txt")}
    trips: dict[str, str] = {}
    for i, r in enumerate(files.rows("trips.txt"), start=2):
        if r["route_id"] not in routes:
            raise TransitError(f"GTFS {name}: trips.txt line {i}: route {r['route_id']!r} "
                               "is not in routes.txt")
        trips[r["trip_id"]] = r["route_id"]
    for i, r in enumerate(files.rows("stop_times.txt"), start=2):
        where = f"GTFS {name}: stop_times.txt line {i}"
        if r["trip_id"] not in trips:
            raise TransitError(f"{where}: trip {r['trip_id']!r} is not in trips.txt")
        if r["stop_id"] not in stops:
            raise TransitError(f"{where}: stop {r['stop_id']!r} is not in stops.txt")
        station = station_of.get(r["stop_id"])
        if station is None:
            continue
        s = stations[station]
        s.trips.add(r["trip_id"])
        s.routes.add(trips[r["trip_id"]])
        s.departures.append(_time(r["departure_time"] or r.get("arrival_time", ""), where))
    for s in stations.values():
        s.departures.sort()
    return Schedule(timezone, stations)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
