"""Zone states, low outflow and silent sensors as incidents, through a real broker."""

from __future__ import annotations

import json
import re
import time

import aiohttp
from sensorhelp import turnstile_zone
from waiting import until

from sensors.service import SENSORS
from sensors.sim import publish


async def _incidents(node, kind: str) -> list[dict]:
    async with aiohttp.ClientSession() as s, \
            s.get(f"{node.url}/api/incidents", params={"kind": kind}) as r:
        assert r.status == 200
        return await r.json()


async def _connected(node) -> None:
    await until(lambda: node._app[SENSORS].ingest.connected.is_set(), "MQTT connected")


def _stamped(topic: str, value: float, at_ms: int) -> tuple[str, bytes]:
    return topic, json.dumps({"value": value, "at": at_ms}).encode()


async def test_congestion_raises_lists_neighbours_and_resolves(broker, sensor_node):
    async with sensor_node(turnstile_zone(broker.port)) as node:
        await _connected(node)
        await publish(broker.port, [("test/plaza-count", b"400"),  # 0.4 p/m²: room for 1600
                                    ("test/concourse-count", b"800")])  # 4 p/m²: congested
        found = await until(lambda: _incidents(node, "crowd_density"), "a congestion incident")
        [incident] = found
        assert incident["title"] == "concourse congested"
        assert incident["severity"] == 3
        assert incident["source"] == "sensor"
        assert incident["location"] == {"zone": "concourse", "lat": 48.58, "lon": 7.75}
        assert "Neighbours: plaza room for 1600 (free)." in incident["description"]
        assert "About 800 people" in incident["description"]
        # Blocked: the same incident, updated.
        await publish(broker.port, [("test/concourse-count", b"1100")])
        await until(lambda: _severity(node, 4), "the incident updated to blocked")
        # Back to free (after the dwell): resolved.
        await publish(broker.port, [("test/concourse-count", b"50")])
        resolved = await until(lambda: _status(node, "resolved"), "the incident resolved")
        assert resolved[0]["id"] == incident["id"]


async def _severity(node, severity: int) -> bool:
    return [i["severity"] for i in await _incidents(node, "crowd_density")] == [severity]


async def _status(node, status: str) -> list[dict]:
    return [i for i in await _incidents(node, "crowd_density") if i["status"] == status]


async def test_low_outflow_under_high_density_is_its_own_warning(broker, sensor_node):
    async with sensor_node(turnstile_zone(broker.port)) as node:
        await _connected(node)
        now = int(time.time() * 1000)
        await publish(broker.port, [
            _stamped("test/gate-in", 0, now - 20_000), _stamped("test/gate-out", 0, now - 20_000),
            # 800 in, 4 out over the 20 s counted: 4 p/m², 0.05 p/m/s through 4 m of exits.
            _stamped("test/gate-in", 800, now - 10_000), _stamped("test/gate-out", 4, now - 500),
        ])
        [warning] = await until(lambda: _incidents(node, "crowd_flow"), "the outflow warning")
        assert warning["title"] == "concourse: low outflow under high density"
        assert warning["severity"] == 4
        assert warning["description"].startswith("Exits pass 0.05 p/m/s, under the 0.8 p/m/s")
        # About 40 p/s in: the flow averages over the 20 s counted so far, not the window.
        assert re.search(r"Inflow (3[6-9]|40)\.\d+ p/s", warning["description"])


async def test_silent_sensors_raise_one_fault(broker, sensor_node):
    section = turnstile_zone(broker.port)
    for sensor in section["sensors"]:
        sensor["expected_interval_s"] = 0.2
    async with sensor_node(section) as node:
        [fault] = await until(lambda: _incidents(node, "sensor_fault"), "a sensor fault")
        assert fault["title"] == "4 city sensor(s) silent"
        assert "gate-in (never heard)" in fault["description"]
        await _connected(node)
        await publish(broker.port, [(f"test/{s['id']}", b"0") for s in section["sensors"]])

        async def resolved() -> bool:
            held = await _incidents(node, "sensor_fault")
            return any(i["id"] == fault["id"] and i["status"] == "resolved" for i in held)

        await until(resolved, "the fault resolved once every sensor reported")
