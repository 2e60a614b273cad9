"""Helpers of the WebRTC tests: tokens, a sink collector, offers."""

from __future__ import annotations

from aiortc import RTCPeerConnection

from drone.video.config import WhipPublisherSection
from drone.video.publish import PatternTrack
from drone.video.sink import QueueSink
from drone.video.whip import WHIP, WhipServer
from fieldkit.node import Node

TOKENS = {"D1-video": "pilot-one-token-0123456789", "D2-video": "pilot-two-token-9876543210"}


class Sinks:
    """Every sink the endpoint made, by feed name (newest last)."""

    def __init__(self) -> None:
        self.made: dict[str, list[QueueSink]] = {}

    def __call__(self, publisher: WhipPublisherSection) -> QueueSink:
        sink = QueueSink()
        self.made.setdefault(publisher.name, []).append(sink)
        return sink



def whip_server(node: Node) -> WhipServer:
    assert node._app is not None
    return node._app[WHIP]


async def make_offer() -> tuple[RTCPeerConnection, str]:
    """A real aiortc offer with one video track (close the peer connection after)."""
    pc = RTCPeerConnection()
    pc.addTransceiver(PatternTrack(320, 240, 15), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp
