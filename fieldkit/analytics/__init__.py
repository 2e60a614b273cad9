"""Video analytics: cameras to incidents.

Camera frames -> motion gate -> detector (ultralytics) -> ByteTrack -> ground plane
(calibration) -> per-zone metrics -> rules with dwell times -> incidents with a snapshot.

``fieldkit.config`` imports :mod:`fieldkit.analytics.config` (the ``[cameras]`` section),
so this package imports nothing heavy up front: names below load their module (and
OpenCV, torch) on first use.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__all__ = [
    "Analyser",
    "AnalyticsRuntime",
    "Calibration",
    "CalibrationError",
    "CameraPipeline",
    "CameraState",
    "CameraWorker",
    "CrowdScene",
    "Detection",
    "Detector",
    "Frame",
    "MotionGate",
    "RuleEngine",
    "Track",
    "Tracker",
    "Zone",
    "ZoneMetrics",
    "ZoneState",
]

_HOME = {
    "Analyser": "pipeline", "AnalyticsRuntime": "pipeline", "CameraPipeline": "pipeline",
    "Calibration": "calibration", "CalibrationError": "calibration",
    "CameraState": "ingest", "CameraWorker": "ingest", "Frame": "ingest",
    "CrowdScene": "scene", "Detection": "detector", "Detector": "detector",
    "MotionGate": "motion", "RuleEngine": "rules", "Track": "tracker", "Tracker": "tracker",
    "Zone": "zones", "ZoneMetrics": "zones", "ZoneState": "zones",
}

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
