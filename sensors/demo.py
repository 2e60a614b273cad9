"""The city in `make demo`: a turnstile bank at the truck's gate, and a metro line whose
breakdown makes HQ suggest buses. Self-contained: the demo calls :meth:`DemoCity.start`
before it builds its nodes, gives the truck :attr:`DemoCity.truck_section`, lets HQ read
its ``[sensors]`` from the line :meth:`DemoCity.configure_hq` writes, and runs
:meth:`DemoCity.play` beside its crews.

- A Mosquitto of its own on 127.0.0.1; turnstile controllers publish running totals each
  second while people arrive faster than they leave, so the gate turns dense, then
  congested (the truck's incident lists the plaza next to it, with room to spare).
- Metro line M1 (a GTFS feed written here, every 5 minutes) and its GTFS-realtime feed,
  served by an aiohttp server on 127.0.0.1. After ``DISRUPT_AT_S`` the feed cancels the
  next trips and says NO_SERVICE at Central; HQ raises a transport incident staging buses
  at Central's two exits, and resolves it when the feed recovers after ``RECOVER_AT_S``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import aiomqtt
from aiohttp import web
from google.transit import gtfs_realtime_pb2 as rt

from fieldkit.config import CONFIG_FILE
from fieldkit.nodedir import init_node_dir
from sensors.broker import Mosquitto
from sensors.config import SensorsSection
from sensors.sim import TurnstileBank, publish

logger = logging.getLogger(__name__)

DISRUPT_AT_S = 6.0
RECOVER_AT_S = 16.0
CYCLE_S = 60.0
"""An endless demo replays the story every minute (the gate empties, the line fails)."""
ARRIVE, LEAVE = 120, 10
"""People per second through the gate's turnstiles, in and out."""
CENTRAL = (48.5800, 7.7500)
_LINE = re.compile(r"^sensors = .*\n", re.MULTILINE)


def _toml(value: Any) -> str:
    """A value as TOML (inline tables and arrays, enough for a [sensors] section)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # numbers, and strings with JSON's escapes (valid TOML)


def write_gtfs(directory: Path) -> Path:
    """Metro line M1: Cathedral -> Central every 5 minutes, all day."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "agency.txt").write_text(
        "agency_id,agency_name,agency_url,agency_timezone\nCTS,City Metro,http://metro,UTC\n")
    (directory / "stops.txt").write_text(
        "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
        f"CENTRAL,Central,{CENTRAL[0]},{CENTRAL[1]},1,\n"
        f"CENTRAL-1,Central platform 1,{CENTRAL[0]},{CENTRAL[1]},0,CENTRAL\n"
        "CATHEDRAL,Cathedral,48.5820,7.7510,0,\n")
    (directory / "routes.txt").write_text("route_id,route_short_name,route_type\nM1,M1,1\n")
    trips, times = ["route_id,service_id,trip_id"], [
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence"]
    for i, minute in enumerate(range(0, 24 * 60, 5)):
        trips.append(f"M1,ALL,M1-{i:03d}")
        for seq, (stop, offset) in enumerate((("CATHEDRAL", 0), ("CENTRAL-1", 3)), start=1):
            t = minute + offset
            times.append(f"M1-{i:03d},{t // 60:02d}:{t % 60:02d}:00,"
                         f"{t // 60:02d}:{t % 60:02d}:00,{stop},{seq}")
    (directory / "trips.txt").write_text("\n".join(trips) + "\n")
    (directory / "stop_times.txt").write_text("\n".join(times) + "\n")
    return directory


def line_feed(disrupted: bool, now: float) -> bytes:
    """M1's GTFS-realtime: the next train on time, or trips cancelled and NO_SERVICE."""
    msg = rt.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.timestamp = int(now)
    minute = int(now // 60) % (24 * 60) // 5 + 1
    if disrupted:
        for i in range(4):
            e = msg.entity.add(id=f"cancel-{i}")
            e.trip_update.trip.trip_id = f"M1-{(minute + i) % 288:03d}"
            e.trip_update.trip.schedule_relationship = rt.TripDescriptor.CANCELED
        e = msg.entity.add(id="alert")
        e.alert.effect = rt.Alert.NO_SERVICE
        e.alert.informed_entity.add(route_id="M1")
        e.alert.header_text.translation.add(text="M1 suspended: power failure", language="en")
    else:
        e = msg.entity.add(id="next")
        e.trip_update.trip.trip_id = f"M1-{minute % 288:03d}"
        e.trip_update.stop_time_update.add(stop_id="CENTRAL-1").departure.time = int(now + 150)
    return msg.SerializeToString()


class DemoCity:
    """The broker, the feeds and the sensors' playback of the demo."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.broker = Mosquitto(root / "mosquitto")
        self.disrupted = False
        self._runner: web.AppRunner | None = None
        self.feed_url = ""

    async def start(self) -> None:
        self.broker.start()
        app = web.Application()
        app.router.add_get("/m1.pb", self._feed)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.feed_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/m1.pb"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.broker.stop()

    async def _feed(self, request: web.Request) -> web.Response:
        return web.Response(body=line_feed(self.disrupted, time.time()),
                            content_type="application/x-protobuf")

    @property
    def truck_section(self) -> SensorsSection:
        """The truck's gate: turnstiles in and out, and the plaza's people counter."""
        sensor = {"expected_interval_s": 5}
        return SensorsSection.model_validate({
            "enabled": True, "dwell_s": 2, "mqtt": {"port": self.broker.port},
            "zones": [{"name": "north-gate", "area_m2": 400, "exit_width_m": 6,
                       "neighbours": ["plaza"], "position": [48.5836, 7.7450]},
                      {"name": "plaza", "area_m2": 2500, "exit_width_m": 30,
                       "position": [48.5830, 7.7460]}],
            "sensors": [
                {"id": "gate-in", "kind": "turnstile_in", "zone": "north-gate",
                 "topic": "demo/gate/in", **sensor},
                {"id": "gate-out", "kind": "turnstile_out", "zone": "north-gate",
                 "topic": "demo/gate/out", **sensor},
                {"id": "plaza-count", "kind": "people_count", "zone": "plaza",
                 "topic": "demo/plaza/count", **sensor}]})

    def hq_section(self) -> dict[str, Any]:
        return {"enabled": True, "mqtt": {"enabled": False}, "transit": {
            "gtfs": str(write_gtfs(self.root / "gtfs")), "realtime": [self.feed_url],
            "poll_s": 1, "backoff_max_s": 10, "bus_capacity": 80,
            "stations": [{"stop_id": "CENTRAL", "exits": [
                {"name": "Exit A (Place de la Gare)", "lat": 48.5803, "lon": 7.7497},
                {"name": "Exit B (Rue du Maire)", "lat": 48.5797, "lon": 7.7504}]}]}}

    def configure_hq(self, hq_dir: Path, name: str) -> None:
        """Put HQ's [sensors] (the line watched) at the top of its ``fieldkit.toml``."""
        path = hq_dir / CONFIG_FILE
        if not path.exists():
            init_node_dir(hq_dir, role="hq", name=name)
        text = _LINE.sub("", path.read_text(encoding="utf-8"))
        path.write_text(f"sensors = {_toml(self.hq_section())}\n" + text, encoding="utf-8")

    async def play(self, deadline: float | None) -> None:
        """Publish the gate each second and fail and restore the line, until
        ``deadline`` (monotonic; None: forever, the story every ``CYCLE_S``)."""
        started = time.monotonic()
        bank = TurnstileBank("demo/gate/in", "demo/gate/out")
        while deadline is None or time.monotonic() < deadline:
            t = (time.monotonic() - started) % CYCLE_S
            if t < 1:  # a new cycle: the gate has emptied
                bank.step(0, bank.inside)
            bank.step(ARRIVE, LEAVE)
            self.disrupted = DISRUPT_AT_S <= t < RECOVER_AT_S
            messages = [*bank.messages(int(time.time() * 1000)),
                        ("demo/plaza/count", b"400")]
            try:
                await publish(self.broker.port, messages)
            except aiomqtt.MqttError as exc:  # the broker gone: the demo goes on without it
                logger.warning("demo city: cannot publish: %s", exc)
            await asyncio.sleep(1.0)  # the controllers report once a second
