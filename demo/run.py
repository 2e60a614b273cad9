"""`fieldkit demo`: a truck node with a synthetic camera and a simulated drone, a second
truck and HQ, all on loopback, and the crew console unless headless.

Scripted crews act through the trucks' own HTTP APIs (:mod:`demo.crew`) and the
story is read back from the live event streams (:mod:`demo.timeline`), so the
demo exercises what real clients use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp

from demo.crew import ORIGIN, Crews, script
from demo.timeline import Echo, Timeline
from drone.demo import DEMO_DRONE, DemoDrone, free_udp_port
from fieldkit.analytics.demo import DEMO_CAMERA, camera_summary, demo_cameras, prepare_models
from fieldkit.config import CONFIG_FILE, Config, load_config
from fieldkit.node import Node
from fieldkit.nodedir import init_node_dir
from fieldkit.tasks import cancel_and_wait
from sensors.demo import DemoCity
from sync.demo import HQ, SECOND_TRUCK, DemoFleet

logger = logging.getLogger(__name__)

DEMO_TRUCK = "T01"
LOG_FILE = "demo.log"


@contextlib.contextmanager
def demo_workspace(work_dir: Path | None) -> Iterator[Path]:
    """The demo's directory (``work_dir``, or a temporary one removed at the end): the
    nodes' directories and the log."""
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        yield work_dir
        return
    with tempfile.TemporaryDirectory(prefix="fieldkit-demo-") as tmp:
        root = Path(tmp)
        _share_camera_cache(root / DEMO_TRUCK)
        yield root


def _share_camera_cache(node_dir: Path) -> None:
    """Point the node's model cache (exported detector and density models, the scene's
    person cut-outs) at the user's cache: making them takes tens of seconds, and a
    temporary demo would otherwise make them again at every run before its camera
    shows anything."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    shared = base / "fieldkit" / "demo" / ".ultralytics"
    try:
        shared.mkdir(parents=True, exist_ok=True)
        node_dir.mkdir(parents=True, exist_ok=True)
        (node_dir / ".ultralytics").symlink_to(shared, target_is_directory=True)
    except OSError as exc:
        logger.warning("demo: no shared model cache at %s (%s): the camera starts slower",
                       shared, exc)


async def run_demo(root: Path, *, duration: float | None, seed: int, echo: Echo | None,
                   on_ready: Callable[[str], None] | None = None) -> str:
    """Run in ``root`` for ``duration`` seconds once serving (or forever); return a
    summary. ``echo`` gets the timeline, line by line; ``on_ready(url)`` is called once
    the node serves (the console connects there)."""
    node_dir = root / DEMO_TRUCK
    await _prepare_camera(node_dir, echo)
    drone = DemoDrone(*ORIGIN, port=free_udp_port())
    # The city: a turnstile bank at T01's gate, a metro line HQ watches (sensors.demo).
    city = DemoCity(root)
    await city.start()
    city.configure_hq(root / HQ, HQ)
    config = _demo_config(node_dir).model_copy(update={"drones": drone.section,
                                                       "sensors": city.truck_section})
    # A second truck and HQ on loopback; T01 syncs with both (see sync.demo).
    try:
        fleet = await DemoFleet.start(node_dir, config)
    except BaseException:
        await city.stop()
        raise
    node = Node(fleet.config)
    try:
        await node.start()
        await drone.start()
        started = time.monotonic()
        story = Timeline(DEMO_TRUCK, started, echo)
        story.say(DEMO_TRUCK, "serving", f"{node.url}: mast camera {DEMO_CAMERA}, drone "
                                        f"{DEMO_DRONE}; {SECOND_TRUCK} at "
                                        f"{fleet.nodes[SECOND_TRUCK].url}, {HQ} at "
                                        f"{fleet.nodes[HQ].url}")
        if on_ready:
            on_ready(node.url)
        urls = {DEMO_TRUCK: node.url, SECOND_TRUCK: fleet.nodes[SECOND_TRUCK].url}
        async with aiohttp.ClientSession() as http:
            deadline = None if duration is None else started + duration
            followers = [asyncio.create_task(story.follow_truck(http, node.url)),
                         asyncio.create_task(story.follow_hq(http, fleet.nodes[HQ].url, HQ)),
                         asyncio.create_task(story.follow_cameras(http, node.url)),
                         asyncio.create_task(city.play(deadline))]
            try:
                await Crews(http, urls, seed).play(script(DEMO_TRUCK, SECOND_TRUCK),
                                                   deadline)
                if deadline is not None:  # the camera and the drone go on until the end
                    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
                settled = await fleet.settle(node)
                await story.delivered(await _events(http, node.url), 5.0)
            finally:
                for task in followers:
                    await cancel_and_wait(task)
        async with aiohttp.ClientSession(node.url) as local:
            async with local.get("/api/health") as response:
                health = await response.json()
            cameras = await camera_summary(local)
            drones = await drone.summary(local)
        return (_summary(node.url, health, story, time.monotonic() - started)
                + await fleet.summary(node, settled) + cameras + drones)
    finally:
        await drone.stop()
        await node.stop()
        await fleet.stop()
        await city.stop()


async def _prepare_camera(node_dir: Path, echo: Echo | None) -> None:
    """With nothing in the model cache yet, export the camera's models and cut the scene's
    people before the story's clock starts: that takes tens of seconds, and the camera's
    incidents would come that much later in the story."""
    models = node_dir / ".ultralytics" / "models"
    if models.is_dir() and any(models.iterdir()):
        return
    if echo:
        echo("preparing the camera's models (first run only: they are cached)")
    await asyncio.to_thread(prepare_models, demo_cameras(), node_dir)


def _demo_config(node_dir: Path) -> Config:
    if not (node_dir / CONFIG_FILE).exists():
        init_node_dir(node_dir, role="truck", name=DEMO_TRUCK)
    config = load_config(node_dir)
    # Port 0: the demo must never collide with a real node on this machine.
    return config.model_copy(update={"api": config.api.model_copy(update={"port": 0}),
                                     "cameras": demo_cameras()})  # the synthetic camera


async def _events(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url + "/api/health") as response:
        return int((await response.json())["events"])


def _summary(url: str, health: dict[str, Any], streamed: Timeline, seconds: float) -> str:
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(health["by_status"].items()))
    delivered = streamed.kinds.total()
    return (f"demo: node {health['node']} ({health['role']}) at {url} ran {seconds:.0f} s\n"
            f"  incidents  {health['incidents']} ({health['open']} open): {statuses}\n"
            f"  events     {health['events']} written, {delivered} delivered on the live stream\n"
            f"  rejected   {health['rejected']}")
