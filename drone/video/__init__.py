"""Drone video over WebRTC: the node's WHIP endpoint (RFC 9725), drone feeds into the
camera analytics, the pilots' publishers (a browser page, ``fieldkit drone publish``), the
live view and the latency bench.

Nothing heavy loads up front (``fieldkit drone ...`` imports this package): names below
load their module, and aiortc, on first use.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__all__ = [
    "DroneFeeds",
    "EgoMotionGate",
    "FeedWorker",
    "FrameSink",
    "PatternTrack",
    "PublishError",
    "Publisher",
    "QueueSink",
    "WhipServer",
    "WhipSession",
    "ice_addresses",
    "install_webrtc",
    "run_webrtc_bench",
]

_HOME = {
    "DroneFeeds": "analytics", "FeedWorker": "analytics", "EgoMotionGate": "egomotion",
    "FrameSink": "sink", "QueueSink": "sink", "PatternTrack": "publish",
    "PublishError": "publish", "Publisher": "publish", "WhipServer": "whip",
    "install_webrtc": "whip", "WhipSession": "session", "ice_addresses": "ice",
    "run_webrtc_bench": "bench",
}

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
