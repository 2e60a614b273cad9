"""HQ test helpers (a plain module, not a conftest, so its name is unique): a clock the
test moves by hand, a camera calibrated in lat/lon, places around it, and a CoT receiver."""

from __future__ import annotations

import math
import socket

import takproto

from fieldkit.analytics.config import CameraSection

LAT0, LON0 = 21.42250, 39.87260
M_PER_DEG = 111_320.0


class FixedClock:
    """A wall clock the test moves by hand (ms)."""

    def __init__(self, now: int = 1_790_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def offset(north_m: float, east_m: float, lat: float = LAT0, lon: float = LON0
           ) -> tuple[float, float]:
    """The point ``north_m`` north and ``east_m`` east of (lat, lon)."""
    return (lat + north_m / M_PER_DEG,
            lon + east_m / (M_PER_DEG * math.cos(math.radians(lat))))


def gate_camera(name: str = "gate3") -> CameraSection:
    """A mast camera looking north over a trapezoid 10..60 m north of (LAT0, LON0)."""
    ground_m = [(-10, 10), (10, 10), (20, 60), (-20, 60)]  # (east, north)
    ground = [list(offset(n, e)) for e, n in ground_m]
    return CameraSection.model_validate({
        "name": name, "source": "rtsp://127.0.0.1:1/none",
        "calibration": {"image": [[100, 700], [1180, 700], [900, 300], [380, 300]],
                        "ground": ground, "units": "latlon"},
    })


async def pump_until(pilot, condition, what: str = "", rounds: int = 2000) -> None:
    """Pump a textual app until ``condition()`` holds (bounded in rounds, not in time)."""
    for _ in range(rounds):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.01)
    raise AssertionError(f"condition never held: {what or condition}")


GROUP = "239.2.3.1"


def parse_cot(xml: bytes):
    """The event as takproto reads it (its CoT XML -> TAK protobuf -> message)."""
    message = takproto.parse_proto(takproto.xml2proto(xml.decode()))
    assert message is not None
    return message.cotEvent


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cot_receiver(port: int) -> socket.socket:
    """A socket in the CoT multicast group on the loopback interface only."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((GROUP, port))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    socket.inet_aton(GROUP) + socket.inet_aton("127.0.0.1"))
    sock.setblocking(False)
    return sock
