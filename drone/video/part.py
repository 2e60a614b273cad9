"""The webrtc part: drone video on the WHIP endpoint, the pilots' page and the live view
(its entry point in the ``fieldkit.parts`` group). Light: the node imports its installer
when it enables the part (``[webrtc] enabled``, the default), and aiortc, av and cv2 load
only when the part starts with a publisher configured."""

from __future__ import annotations

from drone.video.config import WebRTCSection
from fieldkit.config import Config
from fieldkit.parts import Command, Part


def _enabled(config: Config) -> bool:
    return config.section(WebRTCSection).enabled


PART = Part(
    name="webrtc", order=30, section=WebRTCSection, install="drone.video.whip:install_webrtc",
    enabled=_enabled,
    commands=(Command("webrtc", "drone.video.bench:bench_webrtc",
                      "Drone video latency over WHIP against an in-process handover.",
                      bench=True),),
)
