"""The ``[hardware]`` section: the truck's position from gpsd, health thresholds, retention."""

from __future__ import annotations

from pydantic import Field

from fieldkit.config.base import Section


class HardwareSection(Section):
    """The truck's own hardware: position from gpsd, health thresholds, retention."""

    gps: bool = Field(
        False, title="Truck position", description="Read the truck's position from gpsd"
    )
    gpsd_host: str = Field(
        "127.0.0.1", title="gpsd host", description="gpsd runs on the node itself (hardware/)"
    )
    gpsd_port: int = Field(2947, ge=1, le=65535, title="gpsd port", description="2947 by default")
    gps_sample_s: float = Field(
        5.0, ge=0.1, le=3600, title="Position sample interval",
        description="Seconds between stored position samples (the live fix is always current)",
    )
    health: bool = Field(
        False, title="Health incidents",
        description="Raise incidents for full disk, heat, battery power and clock sync",
    )
    health_interval_s: float = Field(
        30.0, ge=0.1, le=3600, title="Health check interval", description="Seconds"
    )
    disk_full_pct: float = Field(
        90.0, ge=50, le=99.9, title="Disk nearly full",
        description="Percent used of the node directory's filesystem that raises an incident",
    )
    temp_max_c: float = Field(
        85.0, ge=40, le=120, title="Overheating", description="Hottest sensor, degrees Celsius"
    )
    retention_days: float = Field(
        14.0, ge=0.01, le=3650, title="Sample retention",
        description="Position, telemetry, sensor and camera-zone samples older than this are "
        "pruned; events never",
    )

