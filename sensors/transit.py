"""Transit disruption -> buses at the right exits, from GTFS and GTFS-realtime.

:class:`TransitWatch` loads the GTFS schedule once (retrying with backoff until it
reads), then polls every GTFS-realtime feed (TripUpdates, ServiceAlerts, VehiclePositions;
an http(s) URL or a file) every ``poll_s``, doubling the wait after a failure up to
``backoff_max_s``. A feed that cannot be fetched or decoded is logged and the last good
one is kept; nothing else changes.

Service at a watched station has broken down when a trip calling there is cancelled (or
skips it), when a NO_SERVICE or REDUCED_SERVICE alert names the station, its stops or its
routes, or when the next predicted departure is ``headway_factor`` times the scheduled
headway away. The stranded passengers are the station zone's occupancy when its counters
are fresh, else the missed trips times ``load_per_trip``; buses = stranded / capacity,
spread over the declared exits. One ``transport`` incident per station
(``station:STOP`` / ``service``) says so, follows the count and is resolved when service
recovers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2 as rt

from fieldkit.alerts import Alert, clear, open_alerts, raise_or_update
from fieldkit.config import Config
from fieldkit.errors import FieldkitError
from fieldkit.tasks import cancel_and_wait
from fieldkit.vocabulary import IncidentKind, Source
from fieldkit.worker import LogWorker
from sensors.config import SensorsSection
from sensors.gtfs import Schedule, Station, TransitError, load_schedule
from sensors.secret import read_secret
from sensors.transit_config import StationSection, TransitSection
from sensors.zones import ZoneBoard, ZoneState

logger = logging.getLogger(__name__)

MAX_FEED_BYTES = 64 << 20
_BAD_EFFECTS = {rt.Alert.NO_SERVICE: "no service", rt.Alert.REDUCED_SERVICE: "reduced service"}


@dataclass(frozen=True, slots=True)
class Disruption:
    """What is wrong at one station now (``causes`` empty: service is normal)."""

    causes: list[str]
    missed_trips: int
    broken: bool
    """Nothing runs (NO_SERVICE, every trip cancelled, or a gap far above schedule)."""
    vehicles: int = 0
    """Vehicles reporting a position on the station's routes (VehiclePositions)."""


def assess(station: Station, feeds: list[rt.FeedMessage], now_s: float, timezone: str,
           headway_factor: float) -> Disruption:
    """Judge one station against the latest realtime feeds."""
    causes: list[str] = []
    cancelled = 0
    next_departure: float | None = None
    broken = False
    vehicles = 0
    for feed in feeds:
        for entity in feed.entity:
            if entity.HasField("vehicle"):
                trip = entity.vehicle.trip
                vehicles += trip.route_id in station.routes or trip.trip_id in station.trips
            if entity.HasField("trip_update"):
                tu = entity.trip_update
                if tu.trip.trip_id not in station.trips:
                    continue
                if tu.trip.schedule_relationship == rt.TripDescriptor.CANCELED:
                    cancelled += 1
                    continue
                for stu in tu.stop_time_update:
                    if stu.stop_id not in station.stops:
                        continue
                    if stu.schedule_relationship == rt.TripUpdate.StopTimeUpdate.SKIPPED:
                        cancelled += 1
                        continue
                    event = stu.departure if stu.HasField("departure") else stu.arrival
                    if event.time > now_s and (next_departure is None
                                               or event.time < next_departure):
                        next_departure = float(event.time)
            if entity.HasField("alert"):
                effect = _BAD_EFFECTS.get(entity.alert.effect)
                if effect and _names(entity.alert, station) and _active(entity.alert, now_s):
                    text = _text(entity.alert) or effect
                    causes.append(f"{effect} alert: {text}")
                    broken = broken or entity.alert.effect == rt.Alert.NO_SERVICE
    if cancelled:
        causes.append(f"{cancelled} trip(s) cancelled or skipping the station")
    local = datetime.fromtimestamp(now_s, ZoneInfo(timezone))
    headway = station.headway_s(local.hour * 3600 + local.minute * 60 + local.second)
    missed = cancelled
    if headway and next_departure is not None:
        gap = next_departure - now_s
        if gap > headway_factor * headway:
            causes.append(f"next departure in {gap / 60:.0f} min, scheduled every "
                          f"{headway / 60:.0f} min")
            missed = max(missed, round(gap / headway) - 1)
            broken = True
    return Disruption(causes, missed, broken, vehicles)


def _names(alert: rt.Alert, station: Station) -> bool:
    return any(e.stop_id in station.stops or e.route_id in station.routes
               for e in alert.informed_entity)


def _active(alert: rt.Alert, now_s: float) -> bool:
    if not alert.active_period:
        return True
    return any((not p.start or p.start <= now_s) and (not p.end or now_s < p.end)
               for p in alert.active_period)


def _text(alert: rt.Alert) -> str:
    for t in alert.header_text.translation:
        return str(t.text)[:200]
    return ""


def buses_at_exits(stranded: int, capacity: int, exits: int) -> list[int]:
    """Buses per exit: enough for ``stranded``, spread evenly (the first exits first)."""
    total = math.ceil(stranded / capacity) if stranded > 0 else 0
    return [total // exits + (1 if i < total % exits else 0) for i in range(exits)]


def transport_alert(section: StationSection, station: Station, d: Disruption,
                    stranded: int, basis: str, settings: TransitSection) -> Alert:
    buses = buses_at_exits(stranded, settings.bus_capacity, len(section.exits))
    staging = "; ".join(f"{n} at {e.name} ({e.lat:.5f}, {e.lon:.5f})"
                        for n, e in zip(buses, section.exits, strict=True) if n)
    state = "broken down" if d.broken else "disrupted"
    location: dict[str, Any] = {"zone": section.zone} if section.zone else {}
    if station.lat is not None and station.lon is not None:
        location.update(lat=station.lat, lon=station.lon)
    return Alert(
        f"station:{station.stop_id}", "service",
        f"{station.name}: service {state}, stage {sum(buses)} bus(es)",
        IncidentKind.TRANSPORT.value, 4 if d.broken else 3, Source.SENSOR.value,
        f"{'; '.join(d.causes)}; {d.vehicles} vehicle(s) reporting on its lines. "
        f"About {stranded} passengers stranded ({basis}); "
        f"{settings.bus_capacity} per bus. Stage: {staging or 'none needed yet'}.",
        location or None)


@dataclass
class TransitWatch:
    """Polls the feeds and keeps one transport incident per disrupted station."""

    config: Config
    worker: LogWorker
    board: ZoneBoard
    schedule: Schedule | None = None
    feeds: dict[str, rt.FeedMessage] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    raised: dict[str, tuple[str, int] | None] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _key: str | None = None

    @property
    def settings(self) -> TransitSection:
        return self.config.section(SensorsSection).transit

    async def start(self) -> None:
        """Read the API key (a ConfigError stops the node) and start polling."""
        self._key = read_secret(self.config, self.settings.api_key, self.settings.api_key_file,
                                "sensors -> transit -> api_key_file")
        self._task = asyncio.create_task(self._run(), name="sensors-transit")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        # Take over what a previous run left open: it is resolved once service is normal.
        for held in await self.worker.call(open_alerts, self.worker.log.store, "station:"):
            self.raised[held.subject] = ("", held.severity)
        wait = self.settings.poll_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            while True:
                try:
                    ok = await self.poll(http)
                except FieldkitError as exc:  # the store: judged again at the next poll
                    logger.warning("transit: %s", exc)
                    ok = False
                wait = self.settings.poll_s if ok else min(wait * 2, self.settings.backoff_max_s)
                await asyncio.sleep(wait)  # the poll period (doubled after a failure)

    async def poll(self, http: aiohttp.ClientSession) -> bool:
        """One round: schedule (until it loads), every realtime feed, then judge."""
        ok = True
        if self.schedule is None and self.settings.gtfs is not None:
            try:
                data = await self._read(http, self.settings.gtfs)
                ids = [s.stop_id for s in self.settings.stations]
                self.schedule = await asyncio.to_thread(
                    load_schedule, data if isinstance(data, bytes) else Path(data),
                    self.settings.gtfs, ids)
                logger.info("transit: GTFS %s loaded, %d station(s) watched",
                            self.settings.gtfs, len(ids))
            except TransitError as exc:
                self._fail("gtfs", str(exc))
                return False
        for source in self.settings.realtime:
            try:
                raw = await self._read(http, source)
                data = raw if isinstance(raw, bytes) else Path(raw).read_bytes()
                feed = rt.FeedMessage()
                feed.ParseFromString(data)
            except (TransitError, OSError, DecodeError) as exc:
                ok = False
                self._fail(source, f"GTFS-realtime {source}: {exc}")
                continue
            self.feeds[source] = feed
            self.errors.pop(source, None)
        if self.schedule is not None:
            await self.judge(time.time())
        return ok

    def _fail(self, key: str, message: str) -> None:
        if self.errors.get(key) != message:
            logger.warning("transit: %s; keeping the last good data", message)
        self.errors[key] = message

    async def _read(self, http: aiohttp.ClientSession, source: str) -> bytes | str:
        """Bytes of a URL, or the path of a file (read by the caller)."""
        if not source.startswith(("http://", "https://")):
            return str(self.config.path(Path(source)))
        headers = {}
        if self._key is not None:
            headers[self.settings.api_key_header] = self._key
        try:
            async with http.get(source, headers=headers) as response:
                if response.status != 200:
                    raise TransitError(f"HTTP {response.status}")
                body = await response.content.read(MAX_FEED_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransitError(f"cannot fetch: {exc.__class__.__name__} {exc}") from exc
        if len(body) > MAX_FEED_BYTES:
            raise TransitError(f"larger than {MAX_FEED_BYTES} bytes")
        return body

    async def judge(self, now_s: float) -> None:
        """Raise, update or resolve each station's transport incident."""
        assert self.schedule is not None
        feeds = list(self.feeds.values())
        for section in self.settings.stations:
            station = self.schedule.stations[section.stop_id]
            d = assess(station, feeds, now_s, self.schedule.timezone,
                       self.settings.headway_factor)
            key = f"station:{station.stop_id}"
            if not d.causes:
                if self.raised.get(key) is not None:
                    await self.worker.call(clear, self.worker.log, key, "service",
                                           resolve="service recovered")
                    logger.info("transit: %s recovered", station.name)
                self.raised[key] = None
                continue
            stranded, basis = self._stranded(section, d)
            alert = transport_alert(section, station, d, stranded, basis, self.settings)
            if self.raised.get(key) != (alert.title, alert.severity):
                await self.worker.call(raise_or_update, self.worker.log, alert)
                self.raised[key] = (alert.title, alert.severity)

    def _stranded(self, section: StationSection, d: Disruption) -> tuple[int, str]:
        zone = self.board.zones.get(section.zone) if section.zone else None
        if zone is not None and zone.state is not ZoneState.UNKNOWN:
            return round(zone.occupancy), f"counted in {zone.section.name}"
        missed = max(d.missed_trips, 1)
        return (missed * self.settings.load_per_trip,
                f"{missed} missed trip(s) x {self.settings.load_per_trip} scheduled load")

    def snapshot(self) -> dict[str, Any]:
        return {"schedule": self.schedule is not None, "feeds": sorted(self.feeds),
                "errors": dict(self.errors),
                "disrupted": sorted(k for k, v in self.raised.items() if v is not None)}
