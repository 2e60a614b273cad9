"""Drone video into the camera analytics: frames received by WHIP go through the camera
pipeline (real model), and people are placed on the ground with the drone's MAVLink pose
at the frame's time (a simulated drone sending real MAVLink over UDP)."""

from __future__ import annotations

import asyncio

import aiohttp
from av import VideoFrame
from test_webrtc_egomotion import bus, view
from webrtchelp import TOKENS, whip_server

from drone.config import DronesSection
from drone.service import DRONES, telemetry_job
from drone.service import setup as install_drones
from drone.sim import SimSettings, SimVehicle
from drone.video.analytics import DroneFeeds
from drone.video.config import WebRTCSection, WhipPublisherSection
from drone.video.live import DRONE_FEEDS
from drone.video.publish import PatternTrack, Publisher
from drone.video.whip import install_webrtc
from fieldkit.config import Config
from fieldkit.node import Node


class DriftingBus(PatternTrack):
    """ultralytics' bus.jpg seen from a drifting drone, 640x480."""

    def __init__(self) -> None:
        super().__init__(640, 480, 10)
        self.image = bus()

    def picture(self, index: int) -> object:  # type: ignore[override]
        return view(self.image, 2 * (index % 40), index % 20)


def drone_config(config: Config) -> Config:
    drones = DronesSection.model_validate({
        "sample_s": 0.1, "link_lost_s": 5.0, "gps_lost_s": 0.0,
        "links": [{"name": "L1", "port": 0}],
        "vehicles": [{"name": "D1", "link": "L1", "system_id": 7}]})
    pub = WhipPublisherSection.model_validate({"name": "D1-video", "token": TOKENS["D1-video"],
                                               "vehicle": "D1"})
    webrtc = WebRTCSection(publishers=[pub], ice_addresses=["127.0.0.1"], analyse_fps=4)
    return config.model_copy(update={"drones": drones, "webrtc": webrtc})


async def test_drone_frames_analysed_and_geo_referenced(config: Config,
                                                        loopback_ice: None) -> None:
    node = Node(drone_config(config), parts=(install_drones, install_webrtc),
                jobs=(telemetry_job,))
    await node.start()
    assert node._app is not None
    service = node._app[DRONES].value
    sim = SimVehicle(SimSettings(port=service.links["L1"].port, system_id=7))
    await sim.start()
    publisher = Publisher(f"{node.url}/whip", TOKENS["D1-video"],
                          lambda: (DriftingBus(), lambda: None))
    task = asyncio.create_task(publisher.run())
    try:
        await service.wait_until(lambda s: "D1" in s.latest, 20)
        feeds = node._app[DRONE_FEEDS]
        await whip_server(node).wait_for(lambda s: bool(s.sessions), 30)

        def placed(f: DroneFeeds) -> bool:
            feed = f.feeds.get("D1-video")
            return feed is not None and feed.analyser is not None and any(
                p.ground is not None for p in feed.analyser.placed)

        await feeds.wait_for(placed, 120)
        feed = feeds.feeds["D1-video"]
        assert feed.analyser is not None
        assert feed.worker.health.frames_analysed >= 1
        sample = service.latest["D1"]
        grounds = [p.ground for p in feed.analyser.placed if p.ground is not None]
        assert grounds
        for g in grounds:  # people within ~200 m of the point below a drone at 60 m
            assert abs(g.lat - sample.lat) < 0.002
            assert abs(g.lon - sample.lon) < 0.002
        assert feed.analyser.location is not None
        token = config.path(config.api.token_file).read_text().strip()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{node.url}/api/live") as resp:
                assert resp.status == 401  # even on loopback
            auth = {"Authorization": f"Bearer {token}"}
            async with http.get(f"{node.url}/api/live", headers=auth) as resp:
                assert (await resp.json())["feeds"] == [{"name": "D1-video", "kind": "drone"}]
            async with http.get(f"{node.url}/api/live/D1-video.jpg", headers=auth) as resp:
                assert resp.status == 200
                assert resp.content_type == "image/jpeg"
                assert (await resp.read())[:2] == b"\xff\xd8"
            async with http.get(f"{node.url}/api/live/nope.jpg", headers=auth) as resp:
                assert resp.status == 404
            async with http.get(f"{node.url}/live") as resp:
                assert "/api/live" in await resp.text()
        live = feed.live()
        assert live is not None
        assert live[0].shape == (480, 640, 3)
    finally:
        publisher.stop()
        await task
        await sim.stop()
        await node.stop()


def test_frame_type_is_the_camera_frame() -> None:
    """The pipeline's own dataclass enters it: drones are cameras to the analytics."""
    from drone.video.sink import make_frame
    from fieldkit.analytics.ingest import Frame

    frame = make_frame("D1-video", 0, VideoFrame(16, 16).to_ndarray(format="bgr24"))
    assert isinstance(frame, Frame)
