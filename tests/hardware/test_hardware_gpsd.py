"""The truck's position from gpsd: gpsfake replaying a real capture, and a gpsd stand-in
for protocol errors."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from waiting import until

from fieldkit.config import Config
from fieldkit.hardware.checks import Machine, Outcome, check_gps
from fieldkit.hardware.config import HardwareSection
from fieldkit.hardware.gpsd import GpsdClient, GpsdError, PositionState, TruckPosition, parse_tpv
from fieldkit.hardware.profile import load_profile
from fieldkit.hardware.records import recent_positions, record_position
from fieldkit.node import Node
from tests.hardware.conftest import PROFILES, free_port

# Seattle, where the capture was made (shared/data/README.md).
LAT, LON = 47.662, -122.326


def _near_capture(lat: float, lon: float) -> bool:
    return abs(lat - LAT) < 0.01 and abs(lon - LON) < 0.01


def test_parse_tpv_needs_a_2d_fix():
    assert parse_tpv({"class": "TPV", "mode": 1}, 0) is None
    assert parse_tpv({"class": "TPV", "mode": 2, "lat": 91.0, "lon": 0.0}, 0) is None
    fix = parse_tpv({"class": "TPV", "mode": 3, "lat": 1.5, "lon": 2.5, "altMSL": 7,
                     "eph": 4.0, "time": "2026-08-05T05:52:57.200Z"}, 99)
    assert fix is not None
    assert (fix.lat, fix.lon, fix.alt_m, fix.eph_m, fix.received_ms) == (1.5, 2.5, 7.0, 4.0, 99)


async def test_connect_refused_names_the_address():
    port = free_port()
    with pytest.raises(GpsdError, match=rf"gpsd not reachable at 127.0.0.1:{port}: "):
        await GpsdClient.connect("127.0.0.1", port, timeout_s=2)


async def _one_shot_server(lines: list[bytes]) -> tuple[asyncio.Server, int]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()  # the ?WATCH command
        for line in lines:
            writer.write(line)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_garbage_from_gpsd_is_an_error_not_a_crash():
    server, port = await _one_shot_server([b'{"class":"VERSION"}\n', b"NOT JSON\n"])
    async with server, await GpsdClient.connect("127.0.0.1", port) as client:
        assert (await client.report())["class"] == "VERSION"
        with pytest.raises(GpsdError, match="gpsd sent a line that is not JSON: b'NOT JSON"):
            await client.report()


async def test_position_survives_gpsd_going_away():
    tpv = {"class": "TPV", "mode": 2, "lat": 10.0, "lon": 20.0}
    server, port = await _one_shot_server([json.dumps(tpv).encode() + b"\n"])
    async with server:
        position = TruckPosition("127.0.0.1", port, retry_max_s=0.2)
        await position.start()
        try:
            assert await position.wait_for(
                lambda p: p.fix is not None and p.state is PositionState.DISCONNECTED, 10)
            assert (position.fix.lat, position.fix.lon) == (10.0, 20.0)  # last fix kept
            assert position.last_error == "gpsd closed the connection"
        finally:
            await position.stop()
            await position.stop()  # twice is fine
    assert position.state is PositionState.STOPPED


async def test_live_position_from_gpsfake_is_recorded(gpsfake, make_log):
    from fieldkit.identity import NodeIdentity

    log = make_log(NodeIdentity.generate("T01"))
    recorded = []

    async def record(fix):
        record_position(log, fix)
        recorded.append(fix)

    position = TruckPosition("127.0.0.1", gpsfake, record, sample_s=0.0)
    await position.start()
    try:
        assert await position.wait_for(lambda p: p.recorded >= 5, 30), position.snapshot()
    finally:
        await position.stop()
    assert position.state is PositionState.STOPPED
    assert _near_capture(position.fix.lat, position.fix.lon)
    assert position.fix.mode == 3
    assert position.fix.gps_time.startswith("2026-08-0")  # the capture's own dates
    rows = recent_positions(log, limit=1000)
    assert len(rows) == len(recorded) >= 5
    assert all(_near_capture(r["lat"], r["lon"]) and r["mode"] >= 2 for r in rows)


async def test_hardware_check_gps_passes_with_gpsfake(gpsfake):
    profile = load_profile(PROFILES / "ref-x86.toml")
    profile = profile.model_copy(update={"gps": profile.gps.model_copy(
        update={"gpsd_port": gpsfake})})
    result = await check_gps(profile, Machine(timeout_s=10))
    assert result.outcome is Outcome.PASS, result
    assert result.reason[1:].startswith("D fix 47.66")  # 2D or 3D: the first fix counts


async def test_hardware_check_gps_fails_without_gpsd():
    profile = load_profile(PROFILES / "ref-x86.toml")
    port = free_port()
    profile = profile.model_copy(update={"gps": profile.gps.model_copy(
        update={"gpsd_port": port})})
    result = await check_gps(profile, Machine(timeout_s=2))
    assert result.outcome is Outcome.FAIL
    assert result.reason == f"gpsd not reachable at 127.0.0.1:{port}: Connection refused"


@pytest.mark.slow
async def test_node_serves_the_truck_position(gpsfake, config: Config):
    hardware = config.section(HardwareSection).model_copy(update={"gps": True, "gpsd_port": gpsfake,
                                                  "gps_sample_s": 0.1, "health": True,
                                                  "health_interval_s": 3600})
    node = Node(config.model_copy(update={"hardware": hardware}))
    await node.start()
    try:
        async with aiohttp.ClientSession() as http:
            async def summary():
                async with http.get(f"{node.url}/api/hardware") as r:
                    assert r.status == 200
                    return await r.json()

            async def recorded() -> dict | None:
                body = await summary()
                done = body["position"]["recorded"] >= 2 and body["health"]["readings"] is not None
                return body if done else None

            body = await until(recorded, "two recorded positions and health readings", 30)
            assert body["position"]["state"] == "fix"
            fix = body["position"]["fix"]
            assert _near_capture(fix["lat"], fix["lon"])
            assert body["health"]["state"] == "running"
            assert 0 < body["health"]["readings"]["disk_used_pct"] < 100
            assert set(body["alerts"]) <= {"disk_full", "overheating", "on_battery",
                                           "clock_unsynced"}
            async with http.get(f"{node.url}/api/hardware/positions?limit=1") as r:
                rows = await r.json()
            assert len(rows) == 1
            assert _near_capture(rows[0]["lat"], rows[0]["lon"])
            async with http.get(f"{node.url}/api/hardware/positions?limit=0") as r:
                assert r.status == 400
                assert (await r.json()) == {"error": "limit 0 is out of range 1..10000"}
    finally:
        await node.stop()
