"""drone's public names are exactly its __all__, and importing fieldkit does not drag in
pymavlink until a drone part is used."""

from __future__ import annotations

import subprocess
import sys

import drone


def test_drone_public_api():
    assert sorted(drone.__all__) == [
        "CameraModel", "DroneLink", "DroneService", "GeorefError", "GroundPoint", "LinkStats",
        "Pose", "Receiver", "SigningKey", "SimSettings", "SimVehicle", "TelemetrySample",
        "Uncertainty", "VehicleState", "project"]
    for name in drone.__all__:
        assert getattr(drone, name) is not None


def test_fieldkit_cli_import_does_not_load_pymavlink():
    code = "import sys, fieldkit.cli; sys.exit('pymavlink' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
