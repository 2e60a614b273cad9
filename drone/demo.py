"""The demo's drone: a simulated vehicle circling over the demo route, its telemetry sent
to the demo node on loopback, crossing a no-fly box so that the demo shows a drone
incident being raised and then cleared."""

from __future__ import annotations

import math
import socket
from typing import Any

import aiohttp

from drone.config import DroneLinkSection, DronesSection, DroneVehicleSection, GeofenceSection
from drone.sim import EARTH_M_PER_DEG, SimSettings, SimVehicle

DEMO_DRONE = "D1"
_CIRCLE_M = 150.0
_BOX_M = 60.0  # half-width of the no-fly box around the circle's northern point


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that is free now (the demo's MAVLink link listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoDrone:
    """``drones`` config for the demo node, and the simulator that feeds it."""

    def __init__(self, lat: float, lon: float, port: int) -> None:
        self.port = port
        self.vehicle = SimVehicle(SimSettings(port=port, lat=lat, lon=lon,
                                              radius_m=_CIRCLE_M))
        north = lat + _CIRCLE_M / EARTH_M_PER_DEG
        dlat = _BOX_M / EARTH_M_PER_DEG
        dlon = dlat / max(0.1, math.cos(math.radians(lat)))
        self.section = DronesSection(
            links=[DroneLinkSection(name="demo", kind="udp_listen", host="127.0.0.1",
                                    port=port)],
            vehicles=[DroneVehicleSection(name=DEMO_DRONE, link="demo", system_id=1)],
            geofences=[GeofenceSection(
                name="no-fly over the densest crowd", severity=4,
                polygon=[(north - dlat, lon - dlon), (north - dlat, lon + dlon),
                         (north + dlat, lon + dlon), (north + dlat, lon - dlon)])],
        )

    async def start(self) -> None:
        await self.vehicle.start()

    async def stop(self) -> None:
        await self.vehicle.stop()

    async def summary(self, http: aiohttp.ClientSession) -> str:
        async with http.get("/api/drones") as response:
            body: dict[str, Any] = await response.json()
        vehicles = {v["name"]: v for v in body["vehicles"]}
        seen = vehicles.get(DEMO_DRONE)
        if seen is None or seen["lat"] is None:
            return f"\n  drone      {DEMO_DRONE}: no position received"
        return (f"\n  drone      {DEMO_DRONE}: {self.vehicle.sent} MAVLink packets sent, "
                f"last at {seen['lat']:.5f},{seen['lon']:.5f}, "
                f"battery {seen['battery_pct'] or 0:.0f}%")
