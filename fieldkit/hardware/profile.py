"""Truck hardware profiles: what a reference truck carries, as a validated TOML file.

A profile describes the compute box, the cameras (stream URL, mounting height, ground
calibration), radios and LTE, the GPS receiver, the drones it serves and the UPS. It is
what `fieldkit hardware check PROFILE` holds this machine against, and what the power
budget in ``hardware/README.md`` is computed from. Loading is split as for the node
config: :func:`parse_profile` reads TOML, :func:`validate_profile` checks it; both raise
:class:`ProfileError` naming the key and what is expected.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, model_validator

from fieldkit.errors import ConfigError
from fieldkit.strict import Strict, describe


class ProfileError(ConfigError):
    """A hardware profile is unreadable or invalid; the message names the key."""


_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"


class TruckPart(Strict):
    name: str = Field(pattern=_NAME, title="Profile name", description="e.g. ref-x86-nvidia")
    description: str = Field("", max_length=500, title="Description", description="Free text")


class ComputePart(Strict):
    model: str = Field(min_length=1, title="Model", description="Make and model of the box")
    arch: Literal["x86_64", "aarch64"] = Field(title="CPU architecture", description="uname -m")
    accelerator: Literal["none", "nvidia", "jetson"] = Field(
        "none", title="Accelerator",
        description="none (CPU/OpenVINO), nvidia (discrete GPU, CUDA) or jetson (integrated)",
    )
    cpu_cores_min: int = Field(4, ge=1, le=256, title="CPU cores", description="At least")
    memory_gb_min: float = Field(8, gt=0, le=4096, title="Memory", description="GB, at least")
    disk_free_gb_min: float = Field(
        20, ge=0, le=100_000, title="Free disk", description="GB free for the node directory"
    )
    temp_max_c: float = Field(
        85, ge=40, le=120, title="Temperature limit", description="Hottest sensor, Celsius"
    )
    power_w: float = Field(gt=0, le=2000, title="Power draw", description="Watts, typical load")


class CalibrationPoint(Strict):
    pixel: tuple[float, float] = Field(title="Pixel", description="[x, y] in the image")
    ground: tuple[float, float] = Field(title="Ground", description="[lat, lon] WGS84 degrees")

    @model_validator(mode="after")
    def _in_range(self) -> CalibrationPoint:
        lat, lon = self.ground
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError(f"ground {list(self.ground)} is not a [lat, lon] in degrees")
        return self


class CameraPart(Strict):
    name: str = Field(pattern=_NAME, title="Camera name", description="Used in incidents")
    url: str = Field(
        min_length=1, max_length=500, title="Stream",
        description="rtsp://, http(s):// URL, /dev/videoN or a file path",
    )
    mount_height_m: float = Field(gt=0, le=100, title="Mounting height", description="Metres")
    resolution: tuple[int, int] = Field(
        (1920, 1080), title="Resolution", description="[width, height] in pixels"
    )
    bitrate_kbps: int = Field(
        4000, ge=64, le=100_000, title="Stream bitrate", description="kbit/s the node ingests"
    )
    power_w: float = Field(6.0, ge=0, le=200, title="Power draw", description="Watts (PoE)")
    calibration: list[CalibrationPoint] = Field(
        default_factory=list, title="Ground calibration",
        description="At least 4 pixel -> ground points for the homography, or none yet",
    )

    @model_validator(mode="after")
    def _check(self) -> CameraPart:
        where = f"cameras -> {self.name}"
        if self.calibration and len(self.calibration) < 4:
            raise ValueError(f"{where}: calibration needs at least 4 points, got "
                             f"{len(self.calibration)}")
        w, h = self.resolution
        for point in self.calibration:
            x, y = point.pixel
            if not (0 <= x <= w and 0 <= y <= h):
                raise ValueError(f"{where}: calibration pixel {list(point.pixel)} is outside "
                                 f"the {w}x{h} image")
        if "://" in self.url and urlsplit(self.url).scheme not in ("rtsp", "http", "https"):
            raise ValueError(f"{where}: url scheme {urlsplit(self.url).scheme!r} is not one of "
                             "rtsp, http, https")
        return self


class RadioPart(Strict):
    name: str = Field(pattern=_NAME, title="Radio name", description="e.g. lte, mesh, sik")
    kind: Literal["lte", "mesh", "wifi", "telemetry"] = Field(
        title="Kind", description="lte, mesh, wifi or telemetry (a MAVLink serial radio)"
    )
    model: str = Field("", title="Model", description="Make and model")
    device: str = Field(
        "", title="Device", description="Network interface or /dev path (udev symlink)"
    )
    uplink_kbps: int = Field(
        0, ge=0, le=10_000_000, title="Uplink", description="kbit/s to plan with (0: none)"
    )
    power_w: float = Field(3.0, ge=0, le=200, title="Power draw", description="Watts")


class GpsPart(Strict):
    model: str = Field(title="Receiver", description="Make and model")
    device: str = Field("/dev/gps0", title="Device", description="Serial device (udev symlink)")
    gpsd_host: str = Field("127.0.0.1", title="gpsd host", description="Where gpsd listens")
    gpsd_port: int = Field(2947, ge=1, le=65535, title="gpsd port", description="2947")
    antenna_offset_m: tuple[float, float] = Field(
        (0.0, 0.0), title="Antenna offset",
        description="[forward, right] metres from the truck's reference point",
    )
    power_w: float = Field(0.5, ge=0, le=50, title="Power draw", description="Watts")


class DronePart(Strict):
    name: str = Field(pattern=_NAME, title="Drone name", description="e.g. D1")
    video_kbps: int = Field(
        6000, ge=64, le=100_000, title="Video bitrate", description="WHIP feed kbit/s"
    )
    telemetry_kbps: int = Field(
        16, ge=1, le=10_000, title="Telemetry", description="MAVLink kbit/s"
    )
    charger_w: float = Field(
        0, ge=0, le=2000, title="Battery charger",
        description="Watts drawn from the truck charging spare packs (0: charged elsewhere)",
    )


class PowerPart(Strict):
    ups_model: str = Field(title="UPS", description="Make and model")
    battery_wh: float = Field(gt=0, le=100_000, title="Battery", description="Usable Wh")
    output_w: float = Field(gt=0, le=100_000, title="UPS rating", description="Watts, continuous")
    efficiency: float = Field(
        0.85, gt=0.3, le=1, title="Inverter efficiency", description="0.3-1"
    )
    other_w: float = Field(
        0, ge=0, le=10_000, title="Other loads",
        description="Watts of switch, monitor, lights on the same UPS",
    )
    runtime_min_target: float = Field(
        60, gt=0, le=10_000, title="Runtime target", description="Minutes on battery, at least"
    )


class Profile(Strict):
    """A whole truck."""

    truck: TruckPart
    compute: ComputePart
    cameras: list[CameraPart] = Field(default_factory=list, max_length=64)
    radios: list[RadioPart] = Field(default_factory=list, max_length=16)
    gps: GpsPart | None = None
    drones: list[DronePart] = Field(default_factory=list, max_length=16)
    power: PowerPart

    @model_validator(mode="after")
    def _check(self) -> Profile:
        for label, names in (("cameras", [c.name for c in self.cameras]),
                             ("radios", [r.name for r in self.radios]),
                             ("drones", [d.name for d in self.drones])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{label}: {', '.join(dupes)} listed more than once")
        load = self.load_w
        if load > self.power.output_w:
            raise ValueError(f"power: the loads total {load:.0f} W, more than the UPS rating "
                             f"of {self.power.output_w:.0f} W")
        if self.runtime_min < self.power.runtime_min_target:
            raise ValueError(
                f"power: {self.power.battery_wh:.0f} Wh runs {load:.0f} W for "
                f"{self.runtime_min:.0f} min, short of the {self.power.runtime_min_target:.0f}"
                " min target")
        return self

    @property
    def loads(self) -> dict[str, float]:
        """Watts per consumer group."""
        return {
            "compute": self.compute.power_w,
            "cameras": sum(c.power_w for c in self.cameras),
            "radios": sum(r.power_w for r in self.radios),
            "gps": self.gps.power_w if self.gps else 0.0,
            "drone chargers": sum(d.charger_w for d in self.drones),
            "other": self.power.other_w,
        }

    @property
    def load_w(self) -> float:
        return sum(self.loads.values())

    @property
    def runtime_min(self) -> float:
        """Minutes on the UPS battery at the profile's load."""
        return self.power.battery_wh * self.power.efficiency / self.load_w * 60

    @property
    def ingest_kbps(self) -> int:
        """Video and telemetry the node takes in, kbit/s."""
        return (sum(c.bitrate_kbps for c in self.cameras)
                + sum(d.video_kbps + d.telemetry_kbps for d in self.drones))


def parse_profile(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from exc


def validate_profile(data: dict[str, Any], source: str) -> Profile:
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{source}: {describe(exc)}") from exc


def load_profile(path: Path) -> Profile:
    """Read, parse and validate the profile at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from exc
    return validate_profile(parse_profile(text, str(path)), str(path))

