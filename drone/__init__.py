"""Drones: MAVLink telemetry, geo-referencing, alerts as incidents, and a simulator.

Drone video over WebRTC (WHIP ingest, publishers, live view) is :mod:`drone.video`.
"""

import logging

from drone.georef import CameraModel, GeorefError, GroundPoint, Pose, Uncertainty, project
from drone.link import DroneLink
from drone.receiver import LinkStats, Receiver
from drone.service import DroneService
from drone.signing import SigningKey
from drone.sim import SimSettings, SimVehicle
from drone.state import TelemetrySample, VehicleState

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

logging.getLogger(__name__).addHandler(logging.NullHandler())
