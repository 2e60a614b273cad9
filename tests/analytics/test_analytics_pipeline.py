"""The whole chain in a real node: synthetic camera -> threads -> real model -> rules ->
incidents with snapshots in the real SQLite log, seen through the node's own API."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner
from conftest import ZONE, camera_for, small_scene

from fieldkit.analytics.cli import camera as camera_cli
from fieldkit.analytics.config import CameraSection, CamerasSection, RulesSection, ZoneSection
from fieldkit.analytics.scene import PinholeCamera, Sprite
from fieldkit.analytics.zones import read_metrics
from fieldkit.config import Config
from fieldkit.node import Node
from fieldkit.store import Store


def _node_config(config: Config) -> Config:
    settings = small_scene(0.25, seed=2)
    cam = camera_for(settings, name="ramp", analyse_fps=4.0).model_copy(update={
        "zones": [ZoneSection(name="z1", polygon=ZONE, capacity=2)]})
    cameras = CamerasSection(window_s=1.0, cameras=[cam],
                             rules=RulesSection(dwell_s=1.0, clear_s=5.0))
    return config.model_copy(update={"cameras": cameras})


@pytest.mark.slow
async def test_synthetic_camera_raises_an_incident_with_a_snapshot(
        config: Config, sprites: list[Sprite]) -> None:
    node = Node(_node_config(config))
    await node.start()
    try:
        async with aiohttp.ClientSession(node.url) as http:
            incident = None
            async with http.get("/api/events/stream",
                                timeout=aiohttp.ClientTimeout(total=120)) as stream:
                async for line in stream.content:
                    if not line.startswith(b"data: "):
                        continue
                    event = json.loads(line[6:])
                    if event["kind"] == "attach":
                        incident = event["incident"]
                        break
            assert incident is not None
            async with http.get(f"/api/incidents/{incident}") as r:
                body = await r.json()
            assert body["kind"] == "crowd_density"
            assert body["title"] == "z1 over capacity"
            assert body["source"] == "analytics"
            assert body["location"] == {"camera": "ramp", "zone": "z1"}
            assert [(lk["target"], lk["ref"]) for lk in body["links"]] == [("camera", "ramp")]
            (attachment,) = body["attachments"]
            assert attachment["mime"] == "image/jpeg"
            async with http.get(f"/api/blobs/{attachment['blob']}") as r:
                assert (await r.read())[:2] == b"\xff\xd8"
            async with http.get("/api/cameras") as r:
                health = (await r.json())["ramp"]
            assert health["state"] == "streaming"
            assert health["frames_analysed"] >= 1
    finally:
        await node.stop()
        await node.stop()
    with Store(config.path(config.node.database)) as store:
        rows = read_metrics(store.conn, "ramp", "z1")
    assert rows, "at least one 1 s window was stored"
    assert all(r.peak >= r.count >= 0 and r.level in "ABCDEF" for r in rows)


def test_cli_calibrate_prints_the_toml_and_refuses_bad_points() -> None:
    camera = PinholeCamera(small_scene())
    image, ground = camera.calibration_points()
    args = []
    for (u, v), (x, y) in zip(image, ground, strict=True):
        args += ["--point", f"{u},{v}={x},{y}"]
    result = CliRunner().invoke(camera_cli, ["calibrate", "--name", "gate3", *args])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("calibration of gate3: 4 points, worst error 0.00")
    assert "calibration.ground = [[-3.0, 3.0], [3.0, 3.0], [3.0, 9.0], [-3.0, 9.0]]" \
        in result.output
    bad = CliRunner().invoke(camera_cli, [
        "calibrate", "--point", "0,0=0,0", "--point", "100,0=1,0", "--point", "200,0=2,0",
        "--point", "0,100=0,1"])
    assert bad.exit_code == 1
    assert bad.output == ("Error: cameras -> CAMERA -> calibration: image points 1, 2, 3 lie "
                          "on one line; with four points no three may be collinear\n")
    typo = CliRunner().invoke(camera_cli, ["calibrate", "--point", "1,2,3"])
    assert typo.exit_code == 1
    assert "write it as U,V=X,Y" in typo.output


def test_cli_lists_cameras_and_zone_areas(node_dir: Path) -> None:
    settings = small_scene()
    image, ground = PinholeCamera(settings).calibration_points()
    toml = node_dir / "fieldkit.toml"
    toml.write_text(toml.read_text() + f"""
[[cameras.cameras]]
name = "ramp"
source = "rtsp://10.0.0.21/stream1"
calibration.image = {json.dumps([list(p) for p in image])}
calibration.ground = {json.dumps([list(p) for p in ground])}

[[cameras.cameras.zones]]
name = "z1"
polygon = {json.dumps([list(p) for p in ZONE])}
capacity = 120
""")
    result = CliRunner().invoke(camera_cli, ["list", "--dir", str(node_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "ramp  rtsp://10.0.0.21/stream1  calibrated (4 points, worst error 0.00 m)",
        "  zone z1: 30.0 m², capacity 120",
    ]


def test_zones_without_calibration_are_a_config_error() -> None:
    with pytest.raises(ValueError, match=r"cameras -> c: zones need a calibration \(zones are "
                       r"on the ground\)"):
        CameraSection(name="c", source="usb:0", zones=[ZoneSection(name="z", polygon=ZONE)])
