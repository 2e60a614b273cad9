"""`fieldkit bench sensors`: MQTT readings into zones against a bare counting subscriber,
and the latency from a reading to the incident its zone raises after the dwell.

One Mosquitto on 127.0.0.1, started for the run. Both subscribers hold a persistent
QoS 1 session on the same topics; ``mosquitto_pub -l`` (one process per sensor) then
publishes the same readings for both while they are away, so each drains the same
backlog as fast as it can, and the publisher's speed is out of the figure:

- baseline: an ``aiomqtt`` client that only counts messages (paho acknowledges each);
- fieldkit: a node running the sensors part: each reading parsed and checked, committed
  to ``sensor_readings`` (batches, fsync per commit), acknowledged after the commit, then
  folded into its zone (occupancy, flows, state).

Rates run from the subscription to the last message. Latency: a people counter reports a
congested zone; the time until the zone's incident is committed, minus the dwell.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import click

from fieldkit.clishared import cli_errors
from fieldkit.config import load_config
from fieldkit.node import Node
from fieldkit.nodedir import init_node_dir
from sensors.broker import Mosquitto
from sensors.config import SensorsSection
from sensors.service import SENSORS
from sensors.sim import publish
from sensors.zones import ZoneState

TARGET_RATE = 20_000.0
TARGET_LATENCY_S = 1.0
PUB = "/usr/bin/mosquitto_pub"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class SensorsBench:
    readings: int
    sensors: int
    bare_per_s: float
    fieldkit_per_s: float
    dwell_s: float
    latency_s: list[float]

    @property
    def ratio(self) -> float:
        return self.fieldkit_per_s / self.bare_per_s

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 3)}

    def table(self) -> str:
        lat = self.latency_s
        return "\n".join([
            f"{self.readings} QoS 1 readings from {self.sensors} turnstiles, one Mosquitto",
            f"{'subscriber':<40} {'readings/s':>12}",
            f"{'bare aiomqtt, counting only':<40} {self.bare_per_s:>12,.0f}",
            f"{'fieldkit: checked, stored, into zones':<40} {self.fieldkit_per_s:>12,.0f}",
            f"ratio fieldkit/bare: {self.ratio:.2f} (target >= {TARGET_RATE:,.0f}/s: "
            f"{'met' if self.fieldkit_per_s >= TARGET_RATE else 'not met'})",
            f"reading -> zone state -> incident, after a {self.dwell_s:g} s dwell: median "
            f"{statistics.median(lat):.3f} s, max {max(lat):.3f} s over {len(lat)} "
            f"(target <= {TARGET_LATENCY_S:g} s)",
        ])


def _section(port: int, sensors: int, dwell_s: float) -> dict[str, Any]:
    # Gates big enough to stay free: the drain measures ingest, not incident writing.
    zones = [{"name": f"gate{i}", "area_m2": 1e7, "exit_width_m": 5} for i in range(sensors)]
    readers = [{"id": f"gate{i}-in", "kind": "turnstile_in", "zone": f"gate{i}",
                "topic": f"bench/gate{i}/in"} for i in range(sensors)]
    zones.append({"name": "probe", "area_m2": 100, "exit_width_m": 2})
    readers.append({"id": "probe-count", "kind": "people_count", "zone": "probe",
                    "topic": "bench/probe"})
    return {"enabled": True, "dwell_s": dwell_s, "zones": zones, "sensors": readers,
            "mqtt": {"port": port, "client_id": "bench-fieldkit"}}


async def _register(port: int, client_id: str, topics: list[str]) -> None:
    """Open the persistent session, subscribe, leave: the broker now queues for it."""
    async with aiomqtt.Client("127.0.0.1", port, identifier=client_id,
                              clean_session=False) as client:
        await client.subscribe([(t, 1) for t in topics])


def _publish_backlog(port: int, topics: list[str], per_topic: int) -> None:
    base = int(time.time() * 1000) - per_topic - 1000
    procs = []
    for topic in topics:
        lines = "".join(json.dumps({"value": i, "at": base + i}) + "\n"
                        for i in range(1, per_topic + 1))
        proc = subprocess.Popen(  # noqa: S603 (Debian's client, our own arguments)
            [PUB, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic, "-l"],
            stdin=subprocess.PIPE)
        procs.append((proc, lines))
    for proc, lines in procs:
        assert proc.stdin is not None
        proc.stdin.write(lines.encode())
        proc.stdin.close()
    for proc, _ in procs:
        if proc.wait() != 0:
            raise click.ClickException(f"mosquitto_pub exited with {proc.returncode}")


async def _bare(port: int, topics: list[str], total: int) -> float:
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-bare", clean_session=False,
                              max_inflight_messages=1000) as client:
        await client.subscribe([(t, 1) for t in topics])
        start, count = time.perf_counter(), 0
        async for _ in client.messages:
            count += 1
            if count == total:
                return total / (time.perf_counter() - start)
    raise AssertionError("unreachable: the iterator ends only by raising")


async def _fieldkit(node: Node, total: int) -> float:
    runtime = node._app[SENSORS] if node._app is not None else None
    assert runtime is not None
    assert runtime.ingest is not None
    await runtime.ingest.connected.wait()
    start = time.perf_counter()
    while sum(t.received for t in runtime.board.tracks.values()) < total:
        await asyncio.sleep(0.002)  # polling the counter; 2 ms is the resolution
    return total / (time.perf_counter() - start)


async def _latency(node: Node, port: int, trials: int, dwell_s: float) -> list[float]:
    worker = node.worker

    async def probe_open() -> bool:
        held = await worker.call(worker.log.incidents, kind="crowd_density", open_only=True)
        return any((i.location or {}).get("zone") == "probe" for i in held)

    # Free first: leaving "unknown" takes no dwell, so the first state would come at once.
    probe = node._app[SENSORS].board.zones["probe"] if node._app is not None else None
    assert probe is not None
    await publish(port, [("bench/probe", b"0")])
    while probe.state is not ZoneState.FREE:
        await asyncio.sleep(0.01)
    out = []
    for _ in range(trials):
        start = time.perf_counter()
        await publish(port, [("bench/probe", b"400")])  # 4 p/m²: congested
        while not await probe_open():
            await asyncio.sleep(0.005)  # polling the log; 5 ms is the resolution
        out.append(time.perf_counter() - start - dwell_s)
        await publish(port, [("bench/probe", b"0")])
        while await probe_open():
            await asyncio.sleep(0.01)
    return out


async def run(readings: int, sensors: int, trials: int, dwell_s: float,
              progress: Progress) -> SensorsBench:
    per = readings // sensors
    total = per * sensors
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-sensors-") as tmp:
        broker = Mosquitto(Path(tmp) / "broker")
        broker.start()
        try:
            node_dir = Path(tmp) / "BENCH"
            init_node_dir(node_dir, role="truck", name="BENCH")
            base = load_config(node_dir)
            section = SensorsSection.model_validate(_section(broker.port, sensors, dwell_s))
            config = base.model_copy(update={
                "api": base.api.model_copy(update={"port": 0}), "sensors": section})
            topics = [f"bench/gate{i}/in" for i in range(sensors)]
            for client_id in ("bench-bare", "bench-fieldkit"):
                await _register(broker.port, client_id, [*topics, "bench/probe"])
            progress(f"publishing {total} readings (kept by the broker for both)...")
            await asyncio.to_thread(_publish_backlog, broker.port, topics, per)
            progress("bare subscriber draining...")
            bare = await _bare(broker.port, topics, total)
            progress("fieldkit node draining...")
            node = Node(config)
            await node.start()
            try:
                ours = await _fieldkit(node, total)
                progress("latency...")
                latency = await _latency(node, broker.port, trials, dwell_s)
            finally:
                await node.stop()
        finally:
            broker.stop()
    return SensorsBench(total, sensors, round(bare, 1), round(ours, 1), dwell_s,
                        [round(x, 4) for x in latency])


@click.command("sensors")
@click.option("--readings", type=click.IntRange(1000), default=100_000, show_default=True)
@click.option("--sensors", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--trials", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Reading -> incident latency samples.")
@click.option("--dwell", type=click.FloatRange(0.1, 10), default=1.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable figures.")
@cli_errors
def bench_sensors(readings: int, sensors: int, trials: int, dwell: float,
                  as_json: bool) -> None:
    """MQTT readings into zones against a bare aiomqtt subscriber; reading -> incident."""
    result = asyncio.run(run(readings, sensors, trials, dwell,
                             lambda msg: click.echo(msg, err=True)))
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else result.table())
