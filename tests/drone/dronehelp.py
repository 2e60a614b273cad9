"""Drone test helpers (a plain module, not a conftest, so its name is unique): MAVLink
bytes from the simulator or hand-built, and node configs with drone links on 127.0.0.1."""

from __future__ import annotations

from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone.config import DronesSection
from drone.georef import CameraModel
from drone.receiver import Receiver
from drone.signing import SigningKey, now_timestamp
from drone.sim import SimSettings, SimVehicle
from fieldkit.config import Config

CAMERA = CameraModel(width_px=1920, height_px=1080, hfov_deg=80.0)
T0 = 1_760_000_000.0


def timed_flight(sim: SimVehicle, seconds: float,
                 start: float = 0.0) -> list[tuple[float, bytes]]:
    """(flight time, packet) for what ``sim`` sends over ``seconds`` of flight."""
    out: list[tuple[float, bytes]] = []
    t = start
    while t < start + seconds:
        out += [(t, p) for p in sim.packets(t)]
        t += 0.005
    return out


def flight(sim: SimVehicle, seconds: float, start: float = 0.0) -> list[bytes]:
    """The packets ``sim`` sends over ``seconds`` of flight, in order."""
    return [p for _, p in timed_flight(sim, seconds, start)]


def feed_all(receiver: Receiver, packets: list[bytes], at: float = T0) -> int:
    """Feed packets 1 ms apart from ``at``."""
    return sum(receiver.feed(p, at + i * 0.001) for i, p in enumerate(packets))


def replay(receiver: Receiver, timed: list[tuple[float, bytes]], at: float = T0) -> int:
    """Feed packets at their flight times after ``at``."""
    return sum(receiver.feed(p, at + t) for t, p in timed)


class Encoder:
    """Builds single packets as system ``system`` / component ``component``."""

    def __init__(self, system: int = 1, component: int = 1,
                 key: SigningKey | None = None) -> None:
        self.mav = mavlink.MAVLink(None, srcSystem=system, srcComponent=component)
        if key is not None:
            self.mav.signing.secret_key = key.secret
            self.mav.signing.sign_outgoing = True
            self.mav.signing.timestamp = now_timestamp()

    def pack(self, msg: Any) -> bytes:
        data = bytes(msg.pack(self.mav))
        self.mav.seq = (self.mav.seq + 1) % 256
        return data

    def heartbeat(self, autopilot: int = mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA,
                  mav_type: int = mavlink.MAV_TYPE_QUADROTOR, armed: bool = True,
                  custom_mode: int = 4) -> bytes:
        base = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | (
            mavlink.MAV_MODE_FLAG_SAFETY_ARMED if armed else 0)
        return self.pack(self.mav.heartbeat_encode(mav_type, autopilot, base, custom_mode, 4))

    def position(self, lat: float, lon: float, alt: float = 337.0, rel: float = 60.0,
                 boot_ms: int = 1000) -> bytes:
        return self.pack(self.mav.global_position_int_encode(
            boot_ms, round(lat * 1e7), round(lon * 1e7), round(alt * 1000), round(rel * 1000),
            100, 0, 0, 9000))

    def attitude(self, boot_ms: int, yaw_deg: float = 90.0) -> bytes:
        return self.pack(self.mav.attitude_encode(boot_ms, 0.0, 0.0, yaw_deg / 57.29578,
                                                  0.0, 0.0, 0.0))

    def battery(self, pct: int) -> bytes:
        return self.pack(self.mav.sys_status_encode(0, 0, 0, 250, 15_800, 1_800, pct,
                                                    0, 0, 0, 0, 0, 0))


def new_receiver(key: SigningKey | None = None, **kwargs: Any) -> Receiver:
    return Receiver("L1", default_camera=CAMERA, key=key, **kwargs)


def sim(**kwargs: Any) -> SimVehicle:
    return SimVehicle(SimSettings(**kwargs))


def with_drones(config: Config, **drones: Any) -> Config:
    """``config`` with a drones section (validated, as if read from fieldkit.toml)."""
    section = DronesSection.model_validate({
        "sample_s": 0.1, "link_lost_s": 1.0, "gps_lost_s": 0.0, **drones})
    return config.model_copy(update={"drones": section})
