"""`fieldkit demo`: a truck node with a synthetic camera and a simulated drone, a second
truck and HQ, all on loopback, and the crew console unless headless.

A generator plays a crew through the node's own HTTP API and a second task reads the
live event stream, so the demo exercises what real clients use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

from drone.demo import DemoDrone, free_udp_port
from fieldkit.analytics.demo import camera_summary, demo_cameras
from fieldkit.config import CONFIG_FILE, Config, load_config
from fieldkit.node import Node
from fieldkit.nodedir import init_node_dir
from fieldkit.render import short_id
from fieldkit.tasks import cancel_and_wait
from sync.demo import HQ, SECOND_TRUCK, DemoFleet

DEMO_TRUCK = "T01"
# Around the Jamarat bridge, Mina: the kind of route fieldkit is for.
_ORIGIN = (21.4225, 39.8726)
_SCENARIOS: list[dict[str, Any]] = [
    {"title": "Density rising at gate {n}", "kind": "crowd_density", "severity": 4,
     "source": "analytics"},
    {"title": "Counter-flow on ramp {n}", "kind": "crowd_flow", "severity": 3,
     "source": "analytics"},
    {"title": "Person down near pillar {n}", "kind": "person_down", "severity": 4,
     "source": "analytics"},
    {"title": "Pilgrim collapsed, heat stroke suspected, sector {n}", "kind": "medical",
     "severity": 3, "source": "crew"},
    {"title": "Lost child reported at tent {n}", "kind": "lost_person", "severity": 2,
     "source": "call"},
    {"title": "Unattended bag at exit {n}", "kind": "suspicious_object", "severity": 3,
     "source": "crew"},
]
_UNITS = {"crowd_density": ("police", "P-21"), "crowd_flow": ("civil_protection", "CP-4"),
          "person_down": ("medical", "M-12"), "medical": ("medical", "M-7"),
          "lost_person": ("police", "P-3"), "suspicious_object": ("police", "EOD-1")}
_PROGRESS = ("acknowledged", "dispatched", "on_scene", "resolved", "closed")


class _Tally:
    """Events seen on the live stream, and a condition to wait for more."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.changed = asyncio.Condition()


async def run_demo(work_dir: Path | None, *, duration: float | None, seed: int,
                   echo: Callable[[str], None] | None,
                   on_ready: Callable[[str], None] | None = None) -> str:
    """Run until ``duration`` seconds pass (or forever); return a summary.
    ``on_ready(url)`` is called once the node serves (the console connects there)."""
    async with _node_dir(work_dir) as node_dir:
        drone = DemoDrone(*_ORIGIN, port=free_udp_port())
        config = _demo_config(node_dir).model_copy(update={"drones": drone.section})
        # A second truck and HQ on loopback; T01 syncs with both (see sync.demo).
        fleet = await DemoFleet.start(node_dir, config, seed)
        node = Node(fleet.config)
        try:
            await node.start()
            await drone.start()
            if echo:
                echo(f"demo node {DEMO_TRUCK} serving {node.url} (data in {node_dir})")
                echo(f"demo fleet: {SECOND_TRUCK} at {fleet.nodes[SECOND_TRUCK].url}, "
                     f"{HQ} at {fleet.nodes[HQ].url}, syncing on loopback")
            if on_ready:
                on_ready(node.url)
            streamed = _Tally()
            started = time.monotonic()
            async with aiohttp.ClientSession(node.url) as http:
                watcher = asyncio.create_task(_watch(http, streamed, echo))
                try:
                    await _generate(http, random.Random(seed), duration)  # noqa: S311 (a demo)
                    settled = await fleet.settle(node)
                    await _drain(http, streamed)
                finally:
                    await cancel_and_wait(watcher)
                async with http.get("/api/health") as response:
                    health = await response.json()
                cameras = await camera_summary(http)
                drones = await drone.summary(http)
            return (_summary(node.url, health, streamed, time.monotonic() - started)
                    + await fleet.summary(node, settled) + cameras + drones)
        finally:
            await drone.stop()
            await node.stop()
            await fleet.stop()


@contextlib.asynccontextmanager
async def _node_dir(work_dir: Path | None) -> AsyncIterator[Path]:
    if work_dir is not None:
        yield work_dir / DEMO_TRUCK
        return
    with tempfile.TemporaryDirectory(prefix="fieldkit-demo-") as tmp:
        yield Path(tmp) / DEMO_TRUCK


def _demo_config(node_dir: Path) -> Config:
    if not (node_dir / CONFIG_FILE).exists():
        init_node_dir(node_dir, role="truck", name=DEMO_TRUCK)
    config = load_config(node_dir)
    # Port 0: the demo must never collide with a real node on this machine.
    return config.model_copy(update={"api": config.api.model_copy(update={"port": 0}),
                                     "cameras": demo_cameras()})  # the synthetic camera


async def _generate(http: aiohttp.ClientSession, rng: random.Random,
                    duration: float | None) -> None:
    """Open incidents and move older ones along, as crews would."""
    deadline = None if duration is None else time.monotonic() + duration
    open_ids: list[str] = []
    n = 0
    while deadline is None or time.monotonic() < deadline:
        if not open_ids or rng.random() < 0.4:
            n += 1
            scenario = dict(rng.choice(_SCENARIOS))
            scenario["title"] = scenario["title"].format(n=n)
            scenario["location"] = {
                "lat": round(_ORIGIN[0] + rng.uniform(-0.004, 0.004), 6),
                "lon": round(_ORIGIN[1] + rng.uniform(-0.004, 0.004), 6),
                "accuracy_m": rng.choice([3, 5, 10, 25]),
            }
            created = await _call(http, "POST", "/api/incidents", scenario)
            open_ids.append(created["id"])
        else:
            await _advance(http, rng, open_ids)
        pause = rng.uniform(0.2, 0.8)
        if deadline is not None:
            pause = min(pause, max(0.0, deadline - time.monotonic()))
        await asyncio.sleep(pause)  # pacing of a simulated crew, not synchronisation


async def _advance(http: aiohttp.ClientSession, rng: random.Random, open_ids: list[str]) -> None:
    incident_id = rng.choice(open_ids)
    incident = await _call(http, "GET", f"/api/incidents/{incident_id}")
    status = incident["status"]
    nxt = _PROGRESS[_PROGRESS.index(status) + 1] if status in _PROGRESS else _PROGRESS[0]
    path = f"/api/incidents/{incident_id}"
    if nxt == "dispatched" and incident["kind"] in _UNITS:
        agency, unit = _UNITS[incident["kind"]]
        await _call(http, "POST", f"{path}/assignments", {"agency": agency, "unit": unit})
    await _call(http, "POST", f"{path}/status", {"status": nxt})
    if nxt == "on_scene":
        await _call(http, "POST", f"{path}/notes", {"text": "unit on scene, assessing"})
    if nxt == "closed":
        open_ids.remove(incident_id)


async def _call(http: aiohttp.ClientSession, method: str, path: str,
                body: dict[str, Any] | None = None) -> Any:
    async with http.request(method, path, json=body) as response:
        data = await response.json()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {data.get('error')}")
        return data


async def _watch(http: aiohttp.ClientSession, streamed: _Tally,
                 echo: Callable[[str], None] | None) -> None:
    """Follow the live stream as the console will."""
    async with http.get("/api/events/stream", timeout=aiohttp.ClientTimeout(total=None)) as r:
        async for line in r.content:
            if not line.startswith(b"data: "):
                continue
            event = json.loads(line[6:])
            async with streamed.changed:
                streamed.kinds[event["kind"]] += 1
                streamed.changed.notify_all()
            if echo:
                payload = event["payload"]
                what = payload.get("title") or payload.get("status") or payload.get("text") \
                    or payload.get("unit") or ""
                echo(f"  {event['origin']}:{event['seq']:<4} {event['kind']:<7} "
                     f"{short_id(event['incident'])}  {what}")


async def _drain(http: aiohttp.ClientSession, streamed: _Tally) -> None:
    """Let the stream reader catch up with the last writes (a stalled stream shows in
    the summary as fewer events delivered than written)."""
    async with http.get("/api/health") as response:
        total = (await response.json())["events"]
    async with streamed.changed:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                streamed.changed.wait_for(lambda: streamed.kinds.total() >= total), 5)


def _summary(url: str, health: dict[str, Any], streamed: _Tally, seconds: float) -> str:
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(health["by_status"].items()))
    delivered = streamed.kinds.total()
    return (f"demo: node {health['node']} ({health['role']}) at {url} ran {seconds:.0f} s\n"
            f"  incidents  {health['incidents']} ({health['open']} open): {statuses}\n"
            f"  events     {health['events']} written, {delivered} delivered on the live stream\n"
            f"  rejected   {health['rejected']}")
