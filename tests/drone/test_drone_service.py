"""The drone service end to end: the simulator's real MAVLink over UDP on 127.0.0.1, a
real SQLite file, and incidents raised, escalated and resolved through the incident log."""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from dronehelp import Encoder, with_drones

from drone.config import DronesSection
from drone.georef import GeorefError
from drone.rules import stale_fields
from drone.service import DroneService
from drone.sim import SimSettings, SimVehicle
from fieldkit.config import Config
from fieldkit.errors import NotFoundError
from fieldkit.node import Node
from fieldkit.worker import LogWorker

TIMEOUT = 15.0
CENTRE = (21.4225, 39.8262)
AROUND_CIRCLE = [[21.418, 39.821], [21.418, 39.832], [21.427, 39.832], [21.427, 39.821]]
FAR_AWAY = [[10.0, 10.0], [10.0, 10.01], [10.01, 10.01]]


class Clock:
    """The node's wall clock, which a test can move ahead (30 minutes of silence are not
    waited for: the bytes are real, the time between them is jumped)."""

    def __init__(self) -> None:
        self.ahead_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead_s


class Rig:
    def __init__(self, config: Config, worker: LogWorker, service: DroneService,
                 clock: Clock) -> None:
        self.config, self.worker, self.service, self.clock = config, worker, service, clock
        self.sim: SimVehicle | None = None

    async def stored(self) -> int:
        return int(await self.worker.call(lambda: self.worker.log.store.conn.execute(
            "SELECT count(*) FROM drone_samples").fetchone()[0]))

    async def silence(self) -> None:
        """Stop the simulator and wait until the link has read all it sent."""
        assert self.sim is not None
        await self.sim.stop()
        await self.wait(lambda s: not s.latest["D1"].fresh)

    async def fly(self, **kw: Any) -> SimVehicle:
        port = self.service.links["L1"].port
        assert port is not None
        self.sim = SimVehicle(SimSettings(port=port, **kw))
        await self.sim.start()
        await self.wait(lambda s: "D1" in s.latest and s.latest["D1"].lat is not None)
        return self.sim

    async def wait(self, predicate: Any) -> None:
        await self.service.wait_until(predicate, TIMEOUT)

    async def drone_incidents(self) -> list[Any]:
        return await self.worker.call(self.worker.log.incidents, kind="drone")

    async def wait_incidents(self, predicate: Any) -> list[Any]:
        """Re-read the drone incidents after each tick until ``predicate`` holds."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                found = await self.drone_incidents()
                if predicate(found):
                    return found
                ticks = self.service.ticks
                await self.wait(lambda s, t=ticks: s.ticks > t)

    async def ticks_pass(self, n: int) -> None:
        start = self.service.ticks
        await self.wait(lambda s: s.ticks >= start + n)


@pytest.fixture
async def rig(config: Config, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    # A loaded CI machine can leave a heartbeat a second late: only the tests about a lost
    # link ask for a short link_lost_s, so the others never see a spurious one.
    extra = {"link_lost_s": 600, **getattr(request, "param", {})}
    cfg = with_drones(config, links=[{"name": "L1", "port": 0}],
                      vehicles=[{"name": "D1", "link": "L1", "system_id": 1}], **extra)
    worker = await LogWorker.open(cfg)
    clock = Clock()
    service = DroneService(cfg, worker, clock=clock)
    await service.start()
    r = Rig(cfg, worker, service, clock)
    yield r
    if r.sim is not None:
        await r.sim.stop()
    await service.stop()
    await service.stop()
    await worker.close()


async def test_samples_are_stored(rig: Rig):
    await rig.fly()
    await rig.ticks_pass(3)
    rows = await rig.worker.call(lambda: rig.worker.log.store.conn.execute(
        "SELECT vehicle, link, system_id, autopilot, mode, armed, lat, lon, alt_rel_m,"
        " gimbal_pitch_deg, battery_pct, gps_fix FROM drone_samples"
        " WHERE lat IS NOT NULL ORDER BY id DESC LIMIT 1").fetchall())
    (vehicle, link, system, autopilot, mode, armed, lat, lon, rel, gimbal, battery,
     fix), = rows
    assert (vehicle, link, system, autopilot, mode, armed, rel, fix) == (
        "D1", "L1", 1, "ardupilot", "GUIDED", 1, 60.0, 3)
    assert lat == pytest.approx(CENTRE[0], abs=0.002)
    assert lon == pytest.approx(CENTRE[1], abs=0.002)
    assert gimbal == pytest.approx(-60.0, abs=0.01)
    assert battery == pytest.approx(95, abs=1)
    assert await rig.drone_incidents() == []


async def test_battery_incident_raised_once_escalated_and_resolved(rig: Rig):
    drone = await rig.fly()
    drone.fault(battery_pct=25)
    (inc,) = await rig.wait_incidents(lambda found: len(found) == 1)
    assert (inc.kind, inc.source, inc.severity, inc.status) == ("drone", "drone", 3, "new")
    assert inc.title == "Drone D1: battery low"
    assert inc.location["lat"] == pytest.approx(CENTRE[0], abs=0.002)
    assert [(link.target, link.ref) for link in inc.links] == [("drone", "D1")]
    await rig.ticks_pass(5)
    assert len(await rig.drone_incidents()) == 1  # raised once
    drone.fault(battery_pct=10)
    (inc,) = await rig.wait_incidents(lambda found: found and found[0].severity == 4)
    assert inc.title == "Drone D1: battery critical"
    drone.fault(battery_pct=99)
    (inc,) = await rig.wait_incidents(lambda found: found and found[0].status == "resolved")
    assert inc.notes[-1].text == "Cleared: battery at 99%."


@pytest.mark.parametrize("rig", [{"link_lost_s": 1.0}], indirect=True)
async def test_link_lost_and_back(rig: Rig):
    drone = await rig.fly()
    drone.fault(silent=True)
    (inc,) = await rig.wait_incidents(lambda found: len(found) == 1)
    assert inc.title == "Drone D1: telemetry link lost"
    assert inc.severity == 4  # it was armed
    assert inc.location is not None
    assert "accuracy_m" in inc.location
    drone.fault(silent=False)
    (inc,) = await rig.wait_incidents(lambda found: found and found[0].status == "resolved")
    assert inc.notes[-1].text.startswith("Cleared: heartbeats are back on link L1")


async def test_gps_lost_and_regained(rig: Rig):
    drone = await rig.fly()
    drone.fault(gps_fix=1)
    (inc,) = await rig.wait_incidents(lambda found: len(found) == 1)
    assert inc.title == "Drone D1: GPS lost"
    drone.fault(gps_fix=3)
    await rig.wait_incidents(lambda found: found and found[0].status == "resolved")


async def test_a_silent_vehicle_gets_no_samples_and_its_link_lost_note_dates_the_position(
        rig: Rig):
    await rig.fly()
    await rig.silence()
    before = await rig.stored()
    rig.clock.ahead_s = 1860.0  # 31 minutes without a byte
    (inc,) = await rig.wait_incidents(lambda found: len(found) == 1)
    assert inc.title == "Drone D1: telemetry link lost"
    assert re.search(r"No heartbeat for 186\d s on link L1", inc.description)
    assert re.search(r"last position 31 min ago at 21\.4\d+, 39\.8\d+, 60 m above home",
                     inc.description)
    await rig.ticks_pass(5)
    assert await rig.stored() == before  # judged every tick, stored never
    latest = rig.service.latest["D1"]
    assert latest.position_age_s is not None
    assert latest.position_age_s >= 1860
    assert not latest.fresh
    assert {"heartbeat", "position", "attitude", "battery", "gps"} <= set(
        stale_fields(latest, rig.config.section(DronesSection)))


async def test_a_vehicle_back_as_a_new_session_never_shows_the_old_position_as_current(
        rig: Rig):
    await rig.fly()
    await rig.silence()
    rig.clock.ahead_s = 1800.0
    port = rig.service.links["L1"].port
    assert port is not None
    settings = rig.config.section(DronesSection)
    new = Encoder(system=1)  # another autopilot with the same system id, 5 s after boot
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(new.heartbeat(armed=False), ("127.0.0.1", port))
        await rig.wait(lambda s: s.latest["D1"].armed is False)  # (the old one flew armed)
        # The heartbeat alone cannot tell the session: the old position stays, dated
        # and stale, and the sample stored with the heartbeat says how old it is.
        s = rig.service.latest["D1"]
        assert "position" in stale_fields(s, settings)
        assert "heartbeat" not in stale_fields(
            s, settings)
        assert s.position_age_s is not None
        assert s.position_age_s >= 1800
        old_dated = await rig.worker.call(lambda: rig.worker.log.store.conn.execute(
            "SELECT position_age_s FROM drone_samples WHERE armed = 0").fetchall())
        assert old_dated
        assert all(age >= 1800 for (age,) in old_dated)
        # Its first boot-stamped message starts a new session: the old values go.
        udp.sendto(new.attitude(boot_ms=5_000), ("127.0.0.1", port))
        await rig.wait(lambda s: s.latest["D1"].session == 2)
        s = rig.service.latest["D1"]
        assert (s.lat, s.lon, s.battery_pct, s.gps_fix, s.position_age_s) == (
            None, None, None, None, None)
        assert s.armed is False
        assert s.mode is not None
        udp.sendto(new.position(21.5, 39.9, boot_ms=5_400), ("127.0.0.1", port))
        await rig.wait(lambda s: s.latest["D1"].lat == 21.5)
    s = rig.service.latest["D1"]
    assert s.position_age_s is not None
    assert s.position_age_s < 5
    assert "position" not in stale_fields(s, settings)


@pytest.mark.parametrize("rig", [{"geofences": [
    {"name": "main square", "polygon": AROUND_CIRCLE, "severity": 5},
    {"name": "elsewhere", "polygon": FAR_AWAY}]}], indirect=True)
async def test_geofence_breach_survives_a_restart_without_duplicate(rig: Rig):
    await rig.fly()
    (inc,) = await rig.wait_incidents(lambda found: len(found) == 1)
    assert (inc.title, inc.severity) == ("Drone D1: inside no-fly area main square", 5)
    # A restarted service finds the open alert: the breach is not raised a second time.
    await rig.service.stop()
    rig.service = DroneService(rig.config, rig.worker)
    await rig.service.start()
    assert rig.sim is not None
    await rig.sim.stop()
    await rig.fly()
    await rig.ticks_pass(5)
    assert [i.id for i in await rig.drone_incidents()] == [inc.id]


async def test_locate_pixels_now_and_at_a_past_frame_time(rig: Rig):
    await rig.fly()
    await rig.ticks_pass(10)  # a second of poses with the gimbal known
    point = rig.service.locate("D1", 960, 540)
    # Gimbal 60° down from 60 m: the centre is 60 / tan 60° = 34.6 m ahead.
    assert point.distance_m == pytest.approx(34.64, abs=1.0)
    assert 2 < point.accuracy_m < 10
    latest = rig.service.latest["D1"]
    past = rig.service.locate("D1", 960, 540, at=latest.at - 0.5)
    assert past.distance_m == pytest.approx(34.64, abs=1.0)
    with pytest.raises(GeorefError, match="drone D1: no pose known near time"):
        rig.service.locate("D1", 960, 540, at=latest.at - 3600)
    with pytest.raises(NotFoundError, match="no drone 'D9'"):
        rig.service.locate("D9", 1, 1)


async def test_node_runs_drone_links_and_serves_them(config: Config):
    cfg = with_drones(config, links=[{"name": "L1", "port": 0}])
    node = Node(cfg)
    await node.start()
    drone: SimVehicle | None = None
    try:
        from drone.service import DRONES

        service = node._app[DRONES].value  # type: ignore[index]
        drone = SimVehicle(SimSettings(port=service.links["L1"].port, system_id=7))
        await drone.start()
        await service.wait_until(lambda s: "L1-7" in s.latest, TIMEOUT)
        async with aiohttp.ClientSession() as http, http.get(f"{node.url}/api/drones") as resp:
            body = await resp.json()
        assert resp.status == 200
        assert [v["vehicle"] for v in body["vehicles"]] == ["L1-7"]
        (vehicle,) = body["vehicles"]
        assert vehicle["session"] == 1
        assert vehicle["heartbeat_age_s"] < 5
        assert vehicle["stale"] == []
        assert body["links"]["L1"]["packets"] > 0
        async with aiohttp.ClientSession() as http:
            url = f"{node.url}/api/drones/L1-7/ground"
            async with http.get(url, params={"u": "960", "v": "540"}) as resp:
                point = await resp.json()
            assert resp.status == 200, point
            assert set(point) == {"lat", "lon", "accuracy_m", "distance_m"}
            async with http.get(url, params={"u": "960", "v": "-1"}) as resp:
                assert resp.status == 400
                assert (await resp.json())["error"] == (
                    "pixel (960.0, -1.0) is outside the 1920x1080 image")
            async with http.get(url, params={"u": "x"}) as resp:
                assert resp.status == 400
            async with http.get(f"{node.url}/api/drones/D9/ground?u=1&v=1") as resp:
                assert resp.status == 404
                assert (await resp.json())["error"] == "no drone 'D9'"
    finally:
        if drone is not None:
            await drone.stop()
        await node.stop()


async def test_unsigned_drone_on_a_signed_link_is_dropped_and_reported(config: Config, caplog):
    cfg = with_drones(config, links=[{"name": "L1", "port": 0,
                                      "signing_key": "truck seven passphrase"}])
    worker = await LogWorker.open(cfg)
    service = DroneService(cfg, worker)
    await service.start()
    drone = SimVehicle(SimSettings(port=service.links["L1"].port))
    await drone.start()
    try:
        def unsigned(s: DroneService) -> int:
            signing = s.links["L1"].stats().signing
            return 0 if signing is None else signing.unsigned

        await service.wait_until(lambda s: unsigned(s) > 10, TIMEOUT)
        await service.wait_until(lambda s: "not correctly signed" in caplog.text, TIMEOUT)
    finally:
        await drone.stop()
        await service.stop()
        await worker.close()
    assert service.latest == {}
    assert "truck seven" not in caplog.text
    assert hashlib.sha256(b"truck seven passphrase").hexdigest() not in caplog.text
