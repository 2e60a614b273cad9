"""The webrtc part: drone video on the WHIP endpoint, the pilots' page and the live view
(its entry point in the ``fieldkit.parts`` group). Light: aiortc loads only when a node
enables the part (``[webrtc] enabled``, the default)."""

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
