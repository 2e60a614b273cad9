"""The ``[sensors.transit]`` section: a GTFS feed, its GTFS-realtime feeds, and the
stations whose breakdown should bring buses to their exits.

Example::

    [sensors.transit]
    gtfs = "gtfs.zip"                                  # or a directory, or an http(s) URL
    realtime = ["https://transit.example/rt/trip-updates.pb",
                "https://transit.example/rt/alerts.pb"]
    bus_capacity = 80

    [[sensors.transit.stations]]
    stop_id = "CENTRAL"
    zone = "central-concourse"                         # its counters estimate the stranded
    exits = [{name = "Exit A (Rue Haute)", lat = 48.58, lon = 7.75}]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr

from fieldkit.config.base import Section

Source = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f]+$",
                              description="An http(s) URL or a file path")]


class ExitSection(Section):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$",
                      title="Exit name", description="How crews know it, e.g. 'Exit B'")
    lat: float = Field(ge=-90, le=90, title="Latitude", description="WGS84 degrees")
    lon: float = Field(ge=-180, le=180, title="Longitude", description="WGS84 degrees")


class StationSection(Section):
    stop_id: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$",
                         title="GTFS stop id", description="A stop or parent station")
    zone: str | None = Field(None, min_length=1, max_length=64, title="Zone",
                             description="sensors.zones name whose counters see its platforms")
    exits: list[ExitSection] = Field(min_length=1, max_length=16, title="Exits",
                                     description="Where buses can be staged")


class TransitSection(Section):
    gtfs: Source | None = Field(None, title="GTFS feed",
                                description="Static GTFS (zip or directory, file or URL)")
    realtime: list[Source] = Field(
        default_factory=list, max_length=8, title="GTFS-realtime feeds",
        description="TripUpdates, ServiceAlerts or VehiclePositions (protobuf), file or URL")
    api_key: SecretStr | None = Field(
        None, title="API key", description="Sent as the api_key_header to the feed URLs")
    api_key_file: Path | None = Field(
        None, title="API key file", description="File holding the API key (instead)")
    api_key_header: str = Field(
        "Authorization", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$",
        title="API key header", description="Header carrying api_key")
    poll_s: float = Field(30.0, ge=0.1, le=3600, title="Poll interval",
                          description="Seconds between reads of the realtime feeds")
    backoff_max_s: float = Field(
        600.0, ge=0.1, le=86_400, title="Longest backoff",
        description="Upper bound of the wait after failed reads (doubles per failure)")
    bus_capacity: int = Field(80, ge=1, le=300, title="Bus capacity",
                              description="Passengers one bus takes away")
    headway_factor: float = Field(
        3.0, ge=1.1, le=20, title="Headway factor",
        description="A gap this many times the scheduled headway counts as a breakdown")
    load_per_trip: int = Field(
        150, ge=1, le=5000, title="Scheduled load",
        description="Passengers waiting per missed trip when the station has no counters")
    stations: list[StationSection] = Field(
        default_factory=list, max_length=200, title="Stations",
        description="Watched stations and their exits")
