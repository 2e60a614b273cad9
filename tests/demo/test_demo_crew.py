"""The demo's crews, against a real node: the script is played through the API, and a
step on a camera incident that has not been raised waits without holding up the rest."""

from __future__ import annotations

import time

import aiohttp

from demo.crew import CAMERA, Crews, Step
from fieldkit.node import Node


async def test_the_script_is_played_and_camera_steps_wait_for_the_camera(node: Node):
    down = f"{CAMERA}person_down"
    steps = [
        Step(0.0, "T01", "child", "create", {"title": "Lost child reported at tent 12",
                                             "kind": "lost_person", "severity": 2,
                                             "source": "call"}),
        Step(0.1, "T01", down, "acknowledged"),  # no camera here: it never comes
        Step(0.2, "T01", down, "assign", ("medical", "M-12")),
        Step(0.3, "T01", "child", "acknowledged"),
        Step(0.4, "T01", "child", "assign", ("police", "P-3")),
        Step(0.5, "T01", "child", "note", "found at the lost persons tent"),
    ]
    async with aiohttp.ClientSession() as http:
        await Crews(http, {"T01": node.url}, seed=1).play(steps, time.monotonic() + 3.0)
        async with http.get(node.url + "/api/incidents") as response:
            incidents = await response.json()
    assert [i["title"] for i in incidents] == ["Lost child reported at tent 12"]
    child = incidents[0]
    assert child["status"] == "acknowledged"
    assert [(a["agency"], a["unit"]) for a in child["assigned"]] == [("police", "P-3")]
    assert [n["text"] for n in child["notes"]] == ["found at the lost persons tent"]
