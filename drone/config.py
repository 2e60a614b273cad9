"""The ``[drones]`` section: MAVLink links, named vehicles, geofences, the default camera
and the alert thresholds. Loaded with every config, so it imports nothing heavy."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from fieldkit.config.base import NodeName, Section, is_loopback_host


class DroneCameraSection(Section):
    hfov_deg: float = Field(
        80.0, gt=1, lt=179, title="Horizontal field of view",
        description="Degrees; used until the drone reports CAMERA_INFORMATION or CAMERA_FOV_STATUS",
    )
    width_px: int = Field(1920, ge=16, le=16384, title="Image width", description="Pixels")
    height_px: int = Field(1080, ge=16, le=16384, title="Image height", description="Pixels")
    mount_pitch_deg: float = Field(
        -90.0, ge=-90, le=30, title="Fixed mount pitch",
        description="Camera pitch relative to the airframe when no gimbal attitude is reported "
        "(-90 looks straight down)",
    )


class DroneLinkSection(Section):
    name: NodeName = Field(title="Link name", description="Names the link in logs and samples")
    kind: Literal["udp_listen", "udp_connect", "tcp_connect", "serial"] = Field(
        "udp_listen", title="Transport",
        description="udp_listen (the autopilot or GCS sends to us), udp_connect, tcp_connect "
        "(we reach a MAVProxy/SITL endpoint) or serial (a telemetry radio)",
    )
    host: str = Field(
        "127.0.0.1", min_length=1, max_length=253, title="Host",
        description="Address to listen on (udp_listen) or to connect to (udp/tcp_connect)",
    )
    port: int = Field(14550, ge=0, le=65535, title="Port", description="14550 by convention")
    device: Path | None = Field(
        None, title="Serial device", description="e.g. /dev/ttyUSB0 (kind = serial)"
    )
    baud: int = Field(57600, ge=1200, le=4_000_000, title="Baud rate", description="Serial only")
    forward_host: str | None = Field(
        None, min_length=1, max_length=253, title="Forward to host",
        description="Ground station to pass the stream on to, unchanged (and its replies back)",
    )
    forward_port: int = Field(
        14550, ge=1, le=65535, title="Forward to port", description="UDP port of that station"
    )
    signing_key: SecretStr | None = Field(
        None, title="MAVLink 2 signing key",
        description="64 hex digits, or a passphrase hashed with SHA-256 as MAVProxy/QGC do",
    )
    signing_key_file: Path | None = Field(
        None, title="Signing key file", description="File holding the key (instead of signing_key)"
    )

    @model_validator(mode="after")
    def _check(self) -> DroneLinkSection:
        where = f"drones -> links -> {self.name}"
        if self.kind == "serial" and self.device is None:
            raise ValueError(f"{where}: kind = serial needs device")
        if self.kind in ("udp_connect", "tcp_connect") and self.port == 0:
            raise ValueError(f"{where}: kind = {self.kind} needs the port to connect to")
        if self.signing_key is not None and self.signing_key_file is not None:
            raise ValueError(f"{where}: give signing_key or signing_key_file, not both")
        signed = self.signing_key is not None or self.signing_key_file is not None
        if self.kind != "serial" and not is_loopback_host(self.host) and not signed:
            raise ValueError(
                f"{where}: host {self.host!r} is not loopback, so a signing key is required "
                "(every network endpoint beyond loopback is authenticated)")
        return self


class DroneVehicleSection(Section):
    name: str = Field(
        min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$", title="Vehicle name",
        description="How crews call the drone, e.g. D1 (used in incidents and links)",
    )
    link: NodeName = Field(title="Link", description="Name of the link it reports on")
    system_id: int = Field(ge=1, le=255, title="MAVLink system id", description="1-255")
    camera: DroneCameraSection | None = Field(
        None, title="Camera", description="Overrides drones.camera for this vehicle"
    )


class GeofenceSection(Section):
    name: str = Field(
        min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$", title="Geofence name",
        description="e.g. 'no-fly main square'",
    )
    polygon: list[tuple[float, float]] = Field(
        min_length=3, max_length=1000, title="Polygon",
        description="[lat, lon] corners in WGS84 degrees; a drone inside is in breach",
    )
    severity: int = Field(4, ge=1, le=5, title="Severity", description="Of the breach incident")

    @model_validator(mode="after")
    def _corners(self) -> GeofenceSection:
        for lat, lon in self.polygon:
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(
                    f"drones -> geofences -> {self.name}: corner {[lat, lon]} is not a "
                    "[lat, lon] in degrees")
        return self


class DroneStaleSection(Section):
    """How old each group of a vehicle's fields may be before it is shown as stale (the
    heartbeat's fields, mode and armed, go stale with ``link_lost_s``)."""

    position_s: float = Field(
        3.0, ge=0.2, le=600, title="Position stale after",
        description="Seconds since the last GLOBAL_POSITION_INT (lat, lon, altitudes)",
    )
    velocity_s: float = Field(
        3.0, ge=0.2, le=600, title="Velocity stale after",
        description="Seconds since heading and groundspeed last arrived",
    )
    attitude_s: float = Field(
        3.0, ge=0.2, le=600, title="Attitude stale after",
        description="Seconds since the last ATTITUDE (roll, pitch, yaw)",
    )
    gimbal_s: float = Field(
        5.0, ge=0.2, le=600, title="Gimbal stale after",
        description="Seconds since the gimbal's attitude last arrived",
    )
    battery_s: float = Field(
        10.0, ge=0.2, le=600, title="Battery stale after",
        description="Seconds since SYS_STATUS or BATTERY_STATUS last gave a level",
    )
    gps_s: float = Field(
        5.0, ge=0.2, le=600, title="GPS stale after",
        description="Seconds since the last GPS_RAW_INT (fix type, satellites, accuracy)",
    )


class DronesSection(Section):
    """Drones: MAVLink links, named vehicles, geofences, camera and alert thresholds."""

    links: list[DroneLinkSection] = Field(
        default_factory=list, title="MAVLink links", description="Telemetry inputs; none by default"
    )
    vehicles: list[DroneVehicleSection] = Field(
        default_factory=list, title="Vehicles",
        description="Names for (link, system id); others are called LINK-SYSID",
    )
    geofences: list[GeofenceSection] = Field(
        default_factory=list, title="Geofences", description="No-fly areas"
    )
    camera: DroneCameraSection = Field(
        default_factory=DroneCameraSection, title="Camera", description="Default drone camera"
    )
    sample_s: float = Field(
        1.0, ge=0.1, le=60, title="Sample interval", description="Seconds between stored samples"
    )
    keep_samples_h: float = Field(
        72.0, ge=1, le=24 * 365, title="Sample retention",
        description="Hours of stored samples kept; older ones are deleted (alerts are kept)",
    )
    link_lost_s: float = Field(
        5.0, ge=1, le=600, title="Link lost after",
        description="Seconds without a heartbeat before a link-lost incident",
    )
    stale: DroneStaleSection = Field(
        default_factory=DroneStaleSection, title="Stale after",
        description="Per field group, seconds after which a value is shown as stale (with "
        "its age) and alert rules stop judging it",
    )
    gps_lost_s: float = Field(
        3.0, ge=0, le=600, title="GPS lost after",
        description="Seconds without a 3D fix before a GPS-lost incident",
    )
    battery_low_pct: int = Field(
        30, ge=1, le=99, title="Battery low", description="Percent; raises a severity 3 incident"
    )
    battery_critical_pct: int = Field(
        15, ge=0, le=98, title="Battery critical", description="Percent; raises it to severity 4"
    )
    ground_elevation_m: float | None = Field(
        None, ge=-500, le=9000, title="Ground elevation",
        description="Metres AMSL of the flat ground used for geo-referencing; "
        "unset: the ground is the drone's home (relative altitude)",
    )

    @model_validator(mode="after")
    def _check(self) -> DronesSection:
        names = [link.name for link in self.links]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"drones -> links: {', '.join(dupes)} listed more than once")
        if self.battery_critical_pct >= self.battery_low_pct:
            raise ValueError(
                f"drones -> battery_critical_pct ({self.battery_critical_pct}) must be below "
                f"battery_low_pct ({self.battery_low_pct})")
        seen: set[tuple[str, int]] = set()
        for v in self.vehicles:
            if v.link not in names:
                raise ValueError(f"drones -> vehicles -> {v.name}: no link named {v.link!r}")
            if (v.link, v.system_id) in seen:
                raise ValueError(f"drones -> vehicles -> {v.name}: system id {v.system_id} on "
                                 f"{v.link} is named twice")
            seen.add((v.link, v.system_id))
        vnames = [v.name for v in self.vehicles]
        if len(set(vnames)) != len(vnames):
            raise ValueError("drones -> vehicles: names must be unique")
        return self

