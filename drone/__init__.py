"""Drones: MAVLink telemetry, geo-referencing, alerts as incidents, and a simulator.

Drone video over WebRTC (WHIP ingest, publishers, live view) is :mod:`drone.video`.

Nothing loads up front (the drones part, :mod:`drone.part`, is read with every config):
names below load their module, and pymavlink, on first use.
"""

from __future__ import annotations

import logging

from fieldkit.parts import lazy_exports

__all__ = [
    "CameraModel",
    "DroneLink",
    "DroneService",
    "GeorefError",
    "GroundPoint",
    "LinkStats",
    "Pose",
    "Receiver",
    "SigningKey",
    "SimSettings",
    "SimVehicle",
    "TelemetrySample",
    "Uncertainty",
    "VehicleState",
    "project",
]

_HOME = {
    "CameraModel": "drone.georef",
    "DroneLink": "drone.link",
    "DroneService": "drone.service",
    "GeorefError": "drone.georef",
    "GroundPoint": "drone.georef",
    "LinkStats": "drone.receiver",
    "Pose": "drone.georef",
    "Receiver": "drone.receiver",
    "SigningKey": "drone.signing",
    "SimSettings": "drone.sim",
    "SimVehicle": "drone.sim",
    "TelemetrySample": "drone.state",
    "Uncertainty": "drone.georef",
    "VehicleState": "drone.state",
    "project": "drone.georef",
}

logging.getLogger(__name__).addHandler(logging.NullHandler())

__getattr__, __dir__ = lazy_exports(__name__, _HOME)
