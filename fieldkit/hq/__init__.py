"""HQ and the city's systems: emergency calls fused with what the trucks see, the fleet
picture, response-time reports, and GeoJSON, CAP 1.2 and Cursor-on-Target feeds.

``fieldkit.config`` imports :mod:`fieldkit.hq.config` (the ``[hq]`` section), so this
package imports nothing up front: names below load their module on first use.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__all__ = [
    "Call",
    "CallOutcome",
    "CotPublisher",
    "Footprint",
    "HqSection",
    "Report",
    "build_report",
    "cap_xml",
    "fleet_picture",
    "install_hq",
    "parse_call",
    "picture_geojson",
    "take_call",
]

_HOME = {
    "Call": "calls", "parse_call": "calls", "CallOutcome": "fusion", "Footprint": "fusion",
    "take_call": "fusion", "CotPublisher": "cot", "HqSection": "config", "Report": "report",
    "build_report": "report", "cap_xml": "cap", "fleet_picture": "fleet",
    "install_hq": "service", "picture_geojson": "geojson",
}

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
