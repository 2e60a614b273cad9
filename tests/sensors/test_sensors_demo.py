"""The demo's city on its own: the gate's turnstiles congest T01's zone, the metro line
fails and HQ stages buses, then recovers."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from waiting import until

from fieldkit.config import load_config
from fieldkit.node import Node
from fieldkit.nodedir import init_node_dir
from fieldkit.tasks import cancel_and_wait
from sensors.config import SensorsSection
from sensors.demo import DISRUPT_AT_S, DemoCity


async def _titles(node: Node, kind: str) -> list[tuple[str, str]]:
    async with aiohttp.ClientSession() as s, \
            s.get(f"{node.url}/api/incidents", params={"kind": kind}) as r:
        return [(i["title"], i["status"]) for i in await r.json()]


@pytest.mark.slow
async def test_the_city_story(tmp_path):
    city = DemoCity(tmp_path)
    await city.start()
    city.configure_hq(tmp_path / "HQ", "HQ")
    init_node_dir(tmp_path / "T01", role="truck", name="T01")
    t01_config = load_config(tmp_path / "T01")
    hq_config = load_config(tmp_path / "HQ")
    assert hq_config.section(SensorsSection).transit.stations[0].stop_id == "CENTRAL"
    nodes = [Node(c.model_copy(update={"api": c.api.model_copy(update={"port": 0})}))
             for c in (t01_config.model_copy(update={"sensors": city.truck_section}),
                       hq_config)]
    for node in nodes:
        await node.start()
    t01, hq = nodes
    play = asyncio.create_task(city.play(time.monotonic() + DISRUPT_AT_S + 30))
    try:
        await until(lambda: _titles(hq, "transport"), "HQ's transport incident", 30)
        [(title, status)] = await _titles(hq, "transport")
        assert title.startswith("Central: service broken down, stage ")
        assert status == "new"
        await until(lambda: _titles(t01, "crowd_density"), "the gate's incident", 30)

        async def recovered() -> bool:
            return [s for _, s in await _titles(hq, "transport")] == ["resolved"]

        await until(recovered, "service recovered", 30)
    finally:
        await cancel_and_wait(play)
        for node in nodes:
            await node.stop()
        await city.stop()
    # configure_hq may run again on the same directory (a kept demo workspace).
    city.configure_hq(tmp_path / "HQ", "HQ")
    assert load_config(tmp_path / "HQ").sensors.enabled
