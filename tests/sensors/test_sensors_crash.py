"""Nothing acknowledged is lost: a node taking QoS 1 readings is SIGKILLed mid-stream,
again and again; every reading the broker accepted ends up stored exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import time

import aiohttp
import pytest
from nodeproc import node_process
from waiting import until

from fieldkit.nodedir import init_node_dir
from sensors.broker import Mosquitto
from sensors.sim import publish

READINGS = 20_000
KILLS = 3

SECTION = """
[sensors]
enabled = true

[sensors.mqtt]
port = {port}
client_id = "crash-t01"

[[sensors.zones]]
name = "gate"
area_m2 = 100000
exit_width_m = 10

[[sensors.sensors]]
id = "gate-in"
kind = "turnstile_in"
zone = "gate"
topic = "crash/gate-in"
"""


def _stored(db) -> tuple[int, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(
            "SELECT count(*), count(DISTINCT sensor_ms) FROM sensor_readings").fetchone()


async def _mqtt(url: str) -> dict:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/api/sensors") as r:
        return (await r.json())["mqtt"]


async def _connected(url: str) -> bool:
    return (await _mqtt(url))["state"] == "connected"


@pytest.mark.slow
async def test_sigkill_mid_stream_loses_and_duplicates_nothing(tmp_path):
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    node_dir = tmp_path / "T01"
    init_node_dir(node_dir, role="truck", name="T01")
    config = node_dir / "fieldkit.toml"
    config.write_text(config.read_text() + SECTION.format(port=broker.port))
    db = node_dir / "fieldkit.db"
    base = int(time.time() * 1000) - READINGS
    messages = [("crash/gate-in", json.dumps({"value": i, "at": base + i}).encode())
                for i in range(1, READINGS + 1)]
    try:
        publisher: asyncio.Task[None] | None = None
        killed_at: list[int] = []
        for kill in range(KILLS):
            with node_process(node_dir) as node:
                await until(lambda u=node.url: _connected(u), "the node connected")
                if publisher is None:
                    # Only once the node's session has subscribed does the broker keep
                    # readings for it (published before, the first one was dropped for
                    # want of a subscriber, once in CI). From then on the publisher runs
                    # throughout; each publish returns once the broker accepted it.
                    publisher = asyncio.create_task(publish(broker.port, messages))
                floor = _stored(db)[0] if db.exists() else 0
                await until(lambda f=floor: _stored(db)[0] > f + 2000,
                            f"readings stored before kill {kill + 1}")
                node.proc.send_signal(signal.SIGKILL)
                node.proc.wait()
                killed_at.append(_stored(db)[0])
        assert publisher is not None
        await publisher  # all accepted by the broker
        with node_process(node_dir) as node:
            try:
                await until(lambda: _stored(db)[0] >= READINGS, "every reading stored", 60)
            except pytest.fail.Exception:  # what the node and the broker said, to see why
                sys.stderr.write(f"stored {_stored(db)}, killed at {killed_at}, "
                                 f"mqtt {await _mqtt(node.url)}\nbroker log:\n"
                                 f"{(tmp_path / 'broker' / 'mosquitto.log').read_text()[-20_000:]}")
                raise
            node.proc.send_signal(signal.SIGTERM)
            assert node.proc.wait(timeout=30) == 0
        assert _stored(db) == (READINGS, READINGS)
        assert killed_at[0] < READINGS, "the first kill landed while readings were arriving"
    finally:
        broker.stop()
