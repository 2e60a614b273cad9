"""The sensors part in a running node, fed through a real Mosquitto on 127.0.0.1."""

from __future__ import annotations

import json
import ssl
import time

import aiohttp
import pytest
from sensorhelp import PASSWORD, USER, turnstile_zone
from waiting import until

from sensors.readings import recent_readings
from sensors.service import SENSORS
from sensors.sim import TurnstileBank, publish


async def _sensors(node) -> dict:
    async with aiohttp.ClientSession() as s, s.get(f"{node.url}/api/sensors") as r:
        assert r.status == 200
        return await r.json()


def _zone(body: dict, name: str) -> dict:
    return next(z for z in body["zones"] if z["zone"] == name)


def _stored(node, sensor=None) -> list[dict]:
    return recent_readings(node.worker.log.store.conn, sensor, 10_000)


def _received(node) -> int:
    """Readings folded into the zones (after they were committed)."""
    return sum(t.received for t in node._app[SENSORS].board.tracks.values())


async def _connected(node) -> None:
    await until(lambda: node._app[SENSORS].ingest.connected.is_set(), "MQTT connected")


async def test_turnstile_bank_occupancy_matches_truth(broker, sensor_node):
    async with sensor_node(turnstile_zone(broker.port)) as node:
        await _connected(node)
        bank = TurnstileBank("test/gate-in", "test/gate-out")
        now = int(time.time() * 1000)
        messages = []
        for i, (arrive, leave) in enumerate([(40, 0), (35, 10), (50, 20), (10, 30), (25, 5)]):
            bank.step(arrive, leave)
            messages += bank.messages(now - 5000 + i * 1000)
        await publish(broker.port, messages)
        await until(lambda: _received(node) == len(messages), "every reading folded in")
        zone = _zone(await _sensors(node), "concourse")
        # The first totals only set the counters' baseline: truth counts from there.
        assert zone["occupancy"] == bank.inside - (40 - 0)
        low, high = zone["occupancy_band"]
        assert low <= zone["occupancy"] <= high
        assert zone["inflow_p_s"] > 0
        assert zone["outflow_pm_s"] is not None


async def test_people_count_corrects_drift(broker, sensor_node):
    async with sensor_node(turnstile_zone(broker.port)) as node:
        await _connected(node)
        now = int(time.time() * 1000)
        await publish(broker.port, [
            ("test/gate-in", json.dumps({"value": 1000, "at": now - 3000}).encode()),
            ("test/gate-out", json.dumps({"value": 500, "at": now - 3000}).encode()),
            ("test/gate-in", json.dumps({"value": 1120, "at": now - 2000}).encode()),
            ("test/gate-out", json.dumps({"value": 510, "at": now - 2000}).encode()),
        ])
        await until(lambda: _received(node) == 4, "crossings stored")
        zone = _zone(await _sensors(node), "concourse")
        # Counted from an assumed empty zone until something counts the people inside.
        assert (zone["occupancy"], zone["anchored"], zone["drift"]) == (110, False, None)
        # The counter camera sees 98: that sets the level (no drift: nothing to compare).
        await publish(broker.port, [("test/concourse-count", b"98")])
        await until(lambda: _received(node) == 5, "count stored")
        zone = _zone(await _sensors(node), "concourse")
        assert (zone["occupancy"], zone["anchored"], zone["drift"]) == (98, True, None)
        # 20 more in, then a count of 115: the estimate (118) drifted by 3 and is corrected.
        await publish(broker.port, [
            ("test/gate-in", json.dumps({"value": 1140, "at": now - 1500}).encode()),
            ("test/concourse-count", b"115")])
        await until(lambda: _received(node) == 7, "crossing and count stored")
        zone = _zone(await _sensors(node), "concourse")
        assert (zone["occupancy"], zone["drift"]) == (115, 3)
        # More exits than the estimate holds: never below zero, reset and reported.
        await publish(broker.port, [
            ("test/gate-out", json.dumps({"value": 700, "at": now - 1000}).encode())])
        await until(lambda: _received(node) == 8, "exits stored")
        zone = _zone(await _sensors(node), "concourse")
        assert (zone["occupancy"], zone["drift"]) == (0, -75)


async def test_bad_input_is_refused_and_the_node_keeps_running(broker, sensor_node, caplog):
    async with sensor_node(turnstile_zone(broker.port)) as node:
        await _connected(node)
        now = int(time.time() * 1000)
        await publish(broker.port, [
            ("test/gate-in", b"not json"),
            ("test/gate-in", b'{"value": "12"}'),
            ("test/gate-in", b'{"value": 12, "at": "2026-12-02T20:00:00"}'),
            ("test/gate-in", b'{"value": -3}'),
            ("test/unknown-sensor", b"5"),
            ("test/gate-in", json.dumps({"value": 10, "at": now - 2000}).encode()),
            # A duplicate (QoS 1 redelivery, a retrying controller) and a late reading.
            ("test/gate-in", json.dumps({"value": 10, "at": now - 2000}).encode()),
            ("test/gate-in", json.dumps({"value": 20, "at": now - 1000}).encode()),
            ("test/gate-in", json.dumps({"value": 15, "at": now - 1500}).encode()),
        ])
        await until(lambda: _received(node) == 4, "good readings folded in")
        body = await _sensors(node)
        gate = next(s for s in body["sensors"] if s["id"] == "gate-in")
        assert gate["rejected"] == 4
        assert gate["out_of_order"] == 1
        assert gate["value"] == 20
        assert body["duplicates"] == 1
        assert "has no UTC offset" in gate["last_error"] or "outside" in gate["last_error"]
        # Undeclared topics are not subscribed: nothing of them reaches the node.
        assert {r["sensor"] for r in _stored(node)} == {"gate-in"}
        assert any("sensor gate-in: payload b'not json' is neither a number nor JSON"
                   in r.getMessage() for r in caplog.records)
        # Still ingesting.
        await publish(broker.port, [("test/gate-in", b"25")])
        await until(lambda: len(_stored(node, "gate-in")) == 4, "ingest alive")


async def test_clock_jump_is_stamped_with_arrival(broker, sensor_node):
    async with sensor_node(turnstile_zone(broker.port)) as node:
        await _connected(node)
        future = int(time.time() * 1000) + 3_600_000
        await publish(broker.port, [("test/plaza-count",
                                     json.dumps({"value": 7, "at": future}).encode())])
        rows = await until(lambda: _stored(node, "plaza-count"), "reading stored")
        assert rows[0]["sensor_ms"] == future
        assert rows[0]["at_ms"] == rows[0]["received_ms"] < future - 3_000_000


@pytest.mark.slow
async def test_broker_goes_away_and_comes_back(tmp_path, sensor_node):
    from sensors.broker import Mosquitto

    own = Mosquitto(tmp_path / "mq")
    own.start()
    try:
        section = turnstile_zone(own.port)
        section["mqtt"]["reconnect_max_s"] = 0.5
        async with sensor_node(section) as node:
            await _connected(node)
            await publish(own.port, [("test/plaza-count", b"1")])
            await until(lambda: len(_stored(node)) == 1, "first reading")
            own.kill()
            await until(lambda: not node._app[SENSORS].ingest.connected.is_set(),
                        "MQTT disconnect noticed")
            own.start()
            await _connected(node)
            await publish(own.port, [("test/plaza-count", b"2")])
            await until(lambda: len(_stored(node)) == 2, "reading after the broker returned")
            assert node._app[SENSORS].ingest.connects >= 2
    finally:
        own.stop()


async def test_password_and_tls(secure_broker, sensor_node, tmp_path):
    ca = secure_broker.tls.ca_file
    (tmp_path / "mqtt.password").write_text(PASSWORD)
    section = turnstile_zone(secure_broker.port, username=USER,
                             password_file=str(tmp_path / "mqtt.password"), ca_file=str(ca))
    async with sensor_node(section) as node:
        await _connected(node)
        tls = ssl.create_default_context(cafile=str(ca))
        await publish(secure_broker.port, [("test/plaza-count", b"42")], username=USER,
                      password=PASSWORD, tls=tls)
        rows = await until(lambda: _stored(node, "plaza-count"), "reading over TLS")
        assert rows[0]["value"] == 42
        assert node._app[SENSORS].ingest.snapshot()["tls"] is True


async def test_wrong_password_is_reported_without_the_secret(secure_broker, sensor_node,
                                                             tmp_path, caplog):
    section = turnstile_zone(secure_broker.port, username=USER, password="wrong-password-1",
                             ca_file=str(secure_broker.tls.ca_file))
    async with sensor_node(section) as node:
        ingest = node._app[SENSORS].ingest
        await until(lambda: ingest.last_error, "a refused connection")
        assert not ingest.connected.is_set()
        assert "wrong-password-1" not in caplog.text


async def test_push_route(broker, sensor_node):
    async with sensor_node(turnstile_zone(broker.port)) as node:
        url = f"{node.url}/sensors/readings"
        good = {"Authorization": "Bearer push-token-0123456789"}
        async with aiohttp.ClientSession() as s:
            async with s.post(url, json={"sensor": "plaza-count", "value": 3}) as r:
                assert r.status == 401
            async with s.post(url, json={"sensor": "plaza-count", "value": 3},
                              headers={"Authorization": "Bearer wrong"}) as r:
                assert r.status == 401
            bad = [{"sensor": "plaza-count", "value": 3}, {"sensor": "nope", "value": 1}]
            async with s.post(url, json=bad, headers=good) as r:
                assert r.status == 400
                assert (await r.json())["error"] == "reading 1: unknown sensor 'nope'"
            assert _stored(node) == []  # all or nothing
            async with s.post(url, data=b"[" * 100_000, headers=good) as r:
                assert r.status == 400
                assert "nested deeper than 64 levels" in (await r.json())["error"]
            at = int(time.time() * 1000)
            batch = [{"sensor": "plaza-count", "value": 3, "at": at},
                     {"sensor": "plaza-count", "value": 3, "at": at}]
            async with s.post(url, json=batch, headers=good) as r:
                assert r.status == 201
                assert await r.json() == {"stored": 1, "duplicates": 1}
            async with s.get(f"{node.url}/api/sensors/readings?limit=0") as r:
                assert r.status == 400
                assert (await r.json())["error"] == "limit 0 is out of range 1..10000"
            async with s.get(f"{node.url}/api/sensors/readings?sensor=plaza-count") as r:
                assert [row["value"] for row in await r.json()] == [3]
        assert [r["via"] for r in _stored(node)] == ["http"]


async def test_readings_pushed_to_any_process_reach_the_zones_once(config, pg_url):
    """Two node processes' worth of nodes on one PostgreSQL database: one runs the zones;
    a reading pushed to either is folded in there once, and the other shows the zones by
    asking the holder."""
    from sensorhelp import with_sensors

    from fieldkit.background import ROLE
    from fieldkit.node import Node

    section = {"enabled": True, "mqtt": {"enabled": False},
               "push_token": "push-token-0123456789",
               "zones": [{"name": "gate", "area_m2": 400, "exit_width_m": 4}],
               "sensors": [{"id": "gate-count", "kind": "people_count", "zone": "gate"}]}
    both = with_sensors(config.model_copy(update={
        "store": config.store.model_copy(update={"url": pg_url})}), section)
    nodes = [Node(both), Node(both)]
    for node in nodes:
        await node.start()
    try:
        running = await until(lambda: [n for n in nodes if n._app[SENSORS].running],
                              "one node to run the zones")
        assert len(running) == 1
        (holder,), (other,) = running, [n for n in nodes if n is not running[0]]
        now = int(time.time() * 1000)
        async with aiohttp.ClientSession(headers={
                "Authorization": "Bearer push-token-0123456789"}) as s:
            for i, node in enumerate((other, holder, other)):
                async with s.post(f"{node.url}/sensors/readings", json={
                        "sensor": "gate-count", "value": 10 + i, "at": now - 3000 + i}) as r:
                    assert r.status == 201
            await until(lambda: _received(holder) == 3, "every pushed reading folded in")
            await until(lambda: other._app[ROLE].holder_port is not None,
                        "the other node to find the holder")
            async with s.get(f"{other.url}/api/sensors") as r:  # forwarded to the holder
                assert r.status == 200
                assert [z["zone"] for z in (await r.json())["zones"]] == ["gate"]
            # The next tick that folds a new one re-reads the first three: still once each.
            async with s.post(f"{other.url}/sensors/readings", json={
                    "sensor": "gate-count", "value": 13, "at": now}) as r:
                assert r.status == 201
            await until(lambda: _received(holder) >= 4, "the fourth reading folded in")
        body = await _sensors(holder)
        assert [s["value"] for s in body["sensors"]] == [13]
        assert (body["stored"], _received(holder), _received(other)) == (4, 4, 0)
    finally:
        for node in nodes:
            await node.stop()
