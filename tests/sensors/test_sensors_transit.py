"""Transit disruption -> buses: a GTFS feed written here, GTFS-realtime built with the
bindings and served over HTTP by a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from google.transit import gtfs_realtime_pb2 as rt
from waiting import until

from sensors.gtfs import TransitError, load_schedule
from sensors.service import SENSORS
from sensors.transit import assess, buses_at_exits

PUSH = {"Authorization": "Bearer push-token-0123456789"}


def write_gtfs(directory: Path, headway_min: int = 5) -> Path:
    """Line M1: OTHER -> Central (platform CENTRAL-1) every ``headway_min`` minutes."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "agency.txt").write_text(
        "agency_id,agency_name,agency_url,agency_timezone\nA,Metro,http://x,UTC\n")
    (directory / "stops.txt").write_text(
        "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
        "CENTRAL,Central,48.58,7.75,1,\nCENTRAL-1,Central platform 1,48.58,7.75,0,CENTRAL\n"
        "OTHER,Other,48.60,7.70,0,\n")
    (directory / "routes.txt").write_text("route_id,route_short_name,route_type\nM1,M1,1\n")
    trips, times = ["route_id,service_id,trip_id"], ["trip_id,arrival_time,departure_time,"
                                                     "stop_id,stop_sequence"]
    for i, minute in enumerate(range(0, 24 * 60, headway_min)):
        trip = f"T{i:04d}"
        trips.append(f"M1,ALL,{trip}")
        for seq, (stop, offset) in enumerate([("OTHER", 0), ("CENTRAL-1", 4)], start=1):
            t = minute + offset
            clock = f"{t // 60:02d}:{t % 60:02d}:00"
            times.append(f"{trip},{clock},{clock},{stop},{seq}")
    (directory / "trips.txt").write_text("\n".join(trips) + "\n")
    (directory / "stop_times.txt").write_text("\n".join(times) + "\n")
    return directory


def feed(*, next_in_s: float | None = 120, cancelled: int = 0, no_service: bool = False,
         now: float | None = None) -> bytes:
    now = time.time() if now is None else now
    msg = rt.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.timestamp = int(now)
    if next_in_s is not None:
        e = msg.entity.add(id="next")
        e.trip_update.trip.trip_id = "T0001"
        stu = e.trip_update.stop_time_update.add(stop_id="CENTRAL-1")
        stu.departure.time = int(now + next_in_s)
    for i in range(cancelled):
        e = msg.entity.add(id=f"cancel{i}")
        e.trip_update.trip.trip_id = f"T{i + 2:04d}"
        e.trip_update.trip.schedule_relationship = rt.TripDescriptor.CANCELED
    if no_service:
        e = msg.entity.add(id="alert")
        e.alert.effect = rt.Alert.NO_SERVICE
        e.alert.informed_entity.add(stop_id="CENTRAL")
        e.alert.header_text.translation.add(text="Signal failure on M1", language="en")
    e = msg.entity.add(id="vehicle")  # a train stuck between stations
    e.vehicle.trip.route_id = "M1"
    e.vehicle.position.latitude, e.vehicle.position.longitude = 48.59, 7.72
    return msg.SerializeToString()


@contextlib.asynccontextmanager
async def rt_server(state: dict):
    async def handle(request: web.Request) -> web.Response:
        state["auth"] = request.headers.get("X-Api-Key")
        return web.Response(body=state["body"], content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_get("/rt.pb", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/rt.pb"
    finally:
        await runner.cleanup()


def _section(gtfs: Path, url: str) -> dict:
    return {
        "enabled": True, "push_token": "push-token-0123456789", "dwell_s": 0.2,
        "mqtt": {"enabled": False},
        "zones": [{"name": "central", "area_m2": 800, "exit_width_m": 10}],
        "sensors": [{"id": "central-count", "kind": "people_count", "zone": "central",
                     "expected_interval_s": 60}],
        "transit": {"gtfs": str(gtfs), "realtime": [url], "poll_s": 0.2, "backoff_max_s": 0.5,
                    "api_key": "feed-key-0123", "api_key_header": "X-Api-Key",
                    "bus_capacity": 80, "stations": [{
                        "stop_id": "CENTRAL", "zone": "central",
                        "exits": [{"name": "Exit A", "lat": 48.5801, "lon": 7.7501},
                                  {"name": "Exit B", "lat": 48.5799, "lon": 7.7499}]}]},
    }


async def _transport(node) -> list[dict]:
    async with aiohttp.ClientSession() as s, \
            s.get(f"{node.url}/api/incidents", params={"kind": "transport"}) as r:
        return await r.json()


async def test_disruption_suggests_buses_updates_and_resolves(tmp_path, sensor_node, caplog):
    gtfs = write_gtfs(tmp_path / "gtfs")
    state = {"body": feed()}
    async with rt_server(state) as url, sensor_node(_section(gtfs, url)) as node:
        transit = node._app[SENSORS].transit
        await until(lambda: transit.feeds and transit.schedule, "schedule and feed read")
        assert await _transport(node) == []
        assert state["auth"] == "feed-key-0123"
        # Three trips cancelled and a NO_SERVICE alert: 3 x 150 stranded -> 6 buses.
        state["body"] = feed(cancelled=3, no_service=True)
        [incident] = await until(lambda: _transport(node), "a transport incident")
        assert incident["title"] == "Central: service broken down, stage 6 bus(es)"
        assert incident["severity"] == 4
        assert incident["location"] == {"zone": "central", "lat": 48.58, "lon": 7.75}
        assert "no service alert: Signal failure on M1" in incident["description"]
        assert "3 trip(s) cancelled or skipping the station; 1 vehicle(s) reporting" in \
            incident["description"]
        assert "Stage: 3 at Exit A (48.58010, 7.75010); 3 at Exit B" in incident["description"]
        # The concourse counter sees 1000 people: 13 buses.
        async with aiohttp.ClientSession() as s, s.post(
                f"{node.url}/sensors/readings", headers=PUSH,
                json={"sensor": "central-count", "value": 1000}) as r:
            assert r.status == 201

        async def thirteen() -> bool:
            return [i["title"] for i in await _transport(node)] == [
                "Central: service broken down, stage 13 bus(es)"]

        await until(thirteen, "the incident updated from the counter")
        # A truncated feed: logged, the last good one kept, the incident unchanged.
        state["body"] = feed(cancelled=3, no_service=True)[:-7]
        await until(lambda: url in transit.errors, "the bad feed noticed")
        assert "GTFS-realtime" in transit.errors[url]
        assert any("keeping the last good data" in r.getMessage() for r in caplog.records)
        assert (await _transport(node))[0]["status"] == "new"
        # Service back: resolved.
        state["body"] = feed()

        async def resolved() -> bool:
            return [i["status"] for i in await _transport(node)] == ["resolved"]

        await until(resolved, "the incident resolved when service recovered")


def test_a_gap_far_above_the_headway_is_a_breakdown(tmp_path):
    schedule = load_schedule(write_gtfs(tmp_path / "g"), "g", ["CENTRAL"])
    station = schedule.stations["CENTRAL"]
    assert station.stops == {"CENTRAL", "CENTRAL-1"}
    assert station.headway_s(12 * 3600) == 300
    now = time.time()
    on_time = rt.FeedMessage.FromString(feed(next_in_s=240, now=now))
    assert assess(station, [on_time], now, "UTC", 3.0).causes == []
    late = rt.FeedMessage.FromString(feed(next_in_s=40 * 60, now=now))
    d = assess(station, [late], now, "UTC", 3.0)
    assert d.broken
    assert d.causes == ["next departure in 40 min, scheduled every 5 min"]
    assert d.missed_trips == 7


def test_buses_spread_over_exits():
    assert buses_at_exits(1000, 80, 2) == [7, 6]
    assert buses_at_exits(0, 80, 3) == [0, 0, 0]


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: (d / "stop_times.txt").unlink(), "stop_times.txt: missing"),
    (lambda d: (d / "trips.txt").write_text("route_id,trip_id\nM9,T0000\n"),
     "trips.txt line 2: route 'M9' is not in routes.txt"),
    (lambda d: (d / "stop_times.txt").write_text(
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\nT0000,8h,8h,CENTRAL-1,1\n"),
     "stop_times.txt line 2: time '8h' is not H:MM:SS"),
    (lambda d: (d / "stops.txt").write_text("stop_name\nX\n"),
     "stops.txt: missing column(s) stop_id"),
    (lambda d: (d / "agency.txt").write_text("agency_name,agency_timezone\nM,Mars/Olympus\n"),
     "agency.txt: agency_timezone 'Mars/Olympus' is not a time zone"),
])
def test_inconsistent_gtfs_names_the_file_and_row(tmp_path, damage, message):
    gtfs = write_gtfs(tmp_path / "g")
    damage(gtfs)
    with pytest.raises(TransitError, match=r"^GTFS g: ") as info:
        load_schedule(gtfs, "g", ["CENTRAL"])
    assert message in str(info.value)


def test_truncated_zip_is_refused(tmp_path):
    import shutil

    archive = Path(shutil.make_archive(str(tmp_path / "feed"), "zip", write_gtfs(tmp_path / "g")))
    data = archive.read_bytes()
    assert load_schedule(data, "feed.zip", ["CENTRAL"]).stations["CENTRAL"].trips
    with pytest.raises(TransitError, match=r"GTFS feed\.zip: not a zip file"):
        load_schedule(data[: len(data) // 2], "feed.zip", ["CENTRAL"])


async def test_a_truncated_gtfs_is_logged_and_the_node_keeps_running(tmp_path, sensor_node,
                                                                     caplog):
    broken = tmp_path / "gtfs.zip"
    broken.write_bytes(b"PK\x03\x04 truncated")
    state = {"body": feed()}
    async with rt_server(state) as url, sensor_node(_section(broken, url)) as node:
        transit = node._app[SENSORS].transit
        await until(lambda: "gtfs" in transit.errors, "the bad GTFS noticed")
        assert transit.errors["gtfs"].startswith(f"GTFS {broken}: not a zip file")
        assert transit.schedule is None
        assert any("keeping the last good data" in r.getMessage() for r in caplog.records)
        async with aiohttp.ClientSession() as s, s.get(f"{node.url}/api/sensors") as r:
            assert r.status == 200
            assert (await r.json())["transit"]["errors"]["gtfs"] == transit.errors["gtfs"]
