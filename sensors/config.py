"""The ``[sensors]`` section of ``fieldkit.toml``: the city's own sensors, the zones they
see and the broker they report through. Imported by :mod:`fieldkit.config` (one line), so
it imports nothing heavy.

Example::

    [sensors]
    enabled = true
    push_token_file = "sensors.token"   # POST /sensors/readings (systems without MQTT)

    [sensors.mqtt]
    host = "broker.city.example"        # beyond loopback: username, password and TLS
    port = 8883
    username = "fieldkit-t07"
    password_file = "mqtt.password"
    ca_file = "city-ca.pem"

    [[sensors.zones]]
    name = "north-gate"
    area_m2 = 400
    exit_width_m = 6
    neighbours = ["plaza"]

    [[sensors.sensors]]
    id = "ng-turnstiles-in"
    kind = "turnstile_in"
    zone = "north-gate"
    topic = "city/north-gate/turnstiles/in"
    expected_interval_s = 10
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, model_validator

from fieldkit.config.base import Section
from sensors.transit_config import TransitSection

Ident = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
                             description="1-64 letters, digits, '_', '.', ':' or '-'")]


class SensorKind(StrEnum):
    """What a sensor measures; the payload's value is in the units given here."""

    PEOPLE_COUNT = "people_count"
    """People in the zone now (a counter camera, a Wi-Fi estimate)."""
    OCCUPANCY = "occupancy"
    """People in the zone now, as the venue's own system keeps it."""
    LINE_IN = "line_in"
    """Cumulative people crossing a line into the zone."""
    LINE_OUT = "line_out"
    """Cumulative people crossing a line out of the zone."""
    TURNSTILE_IN = "turnstile_in"
    """Cumulative turnstile entries into the zone."""
    TURNSTILE_OUT = "turnstile_out"
    """Cumulative turnstile exits out of the zone."""
    ROAD_SPEED = "road_speed"
    """Mean vehicle speed, km/h."""
    ROAD_FLOW = "road_flow"
    """Vehicles per hour."""
    ROAD_OCCUPANCY = "road_occupancy"
    """Percent of time a loop detector is occupied."""

    @property
    def crossing(self) -> int:
        """+1 for a counter of entries, -1 for exits, 0 for every other kind."""
        return _CROSSING.get(self, 0)

    @property
    def absolute(self) -> bool:
        """A count of the people in the zone now (anchors the gated occupancy)."""
        return self in _ABSOLUTE


# Plain dicts: the hot path asks these once per reading.
_CROSSING = {SensorKind.LINE_IN: 1, SensorKind.TURNSTILE_IN: 1, SensorKind.LINE_OUT: -1,
             SensorKind.TURNSTILE_OUT: -1}
_ABSOLUTE = frozenset((SensorKind.PEOPLE_COUNT, SensorKind.OCCUPANCY))

UNITS = {SensorKind.ROAD_SPEED: "km/h", SensorKind.ROAD_FLOW: "vehicles/h",
         SensorKind.ROAD_OCCUPANCY: "%"}
"""Units of the kinds that are not counts of people."""


class SensorSection(Section):
    id: Ident = Field(title="Sensor id", description="Unique; names the sensor in readings")
    kind: SensorKind = Field(title="Kind", description=", ".join(k.value for k in SensorKind))
    zone: Ident | None = Field(None, title="Zone", description="sensors.zones name it sees")
    position: tuple[float, float] | None = Field(
        None, title="Position", description="[lat, lon] in WGS84 degrees")
    topic: str | None = Field(
        None, min_length=1, max_length=256, pattern=r"^[^#+\x00]+$", title="MQTT topic",
        description="Exact topic it publishes on; unset: fieldkit/sensors/ID")
    units: str = Field(
        "persons", min_length=1, max_length=16, title="Units",
        description="persons for people kinds; km/h, vehicles/h or % for road kinds")
    expected_interval_s: float = Field(
        60.0, ge=0.1, le=86_400, title="Expected interval",
        description="Seconds between its reports; silent for 3 intervals raises sensor_fault")

    @property
    def mqtt_topic(self) -> str:
        return self.topic or f"fieldkit/sensors/{self.id}"

    @model_validator(mode="after")
    def _check(self) -> SensorSection:
        where = f"sensors -> sensors -> {self.id}"
        expected = UNITS.get(self.kind, "persons")
        if self.units != expected:
            raise ValueError(f"{where}: units {self.units!r} do not fit kind {self.kind.value} "
                             f"(expected {expected!r})")
        if self.zone is None and self.position is None:
            raise ValueError(f"{where}: give zone or position (where it looks)")
        if self.position is not None and not (
                -90 <= self.position[0] <= 90 and -180 <= self.position[1] <= 180):
            raise ValueError(f"{where}: position {list(self.position)} is not [lat, lon]")
        return self


class ZoneKind(StrEnum):
    PEDESTRIAN = "pedestrian"
    ROAD = "road"


class SensorZoneSection(Section):
    name: Ident = Field(title="Zone name", description="Same name as a camera zone to compare")
    kind: ZoneKind = Field(ZoneKind.PEDESTRIAN, title="Kind", description="pedestrian or road")
    area_m2: float = Field(gt=0, le=10_000_000, title="Area", description="Square metres")
    exit_width_m: float = Field(
        gt=0, le=1000, title="Exit width", description="Metres of its exits: flow per metre")
    neighbours: list[Ident] = Field(
        default_factory=list, max_length=32, title="Neighbours",
        description="Zones people can be sent to when this one congests")
    position: tuple[float, float] | None = Field(
        None, title="Position", description="[lat, lon] of its centre, for maps and incidents")


class StateLevels(Section):
    """Where a zone's state changes, for each kind of measure (each must rise)."""

    density: tuple[float, float, float] = Field(
        (2.0, 3.5, 5.0), title="Density thresholds",
        description="Persons/m² at which a pedestrian zone is dense, congested, blocked")
    road_occupancy: tuple[float, float, float] = Field(
        (25.0, 45.0, 80.0), title="Road occupancy thresholds",
        description="Percent loop occupancy at which a road is dense, congested, blocked")
    hysteresis: float = Field(
        0.15, ge=0, le=0.9, title="Hysteresis",
        description="A state is left downwards only below its threshold minus this share")

    @model_validator(mode="after")
    def _rising(self) -> StateLevels:
        for name in ("density", "road_occupancy"):
            a, b, c = getattr(self, name)
            if not 0 < a < b < c:
                raise ValueError(f"sensors -> levels -> {name}: {[a, b, c]} must be > 0 "
                                 "and rising")
        return self


class MqttSection(Section):
    enabled: bool = Field(True, title="MQTT", description="Subscribe to the sensors' topics")
    host: str = Field("127.0.0.1", min_length=1, max_length=253, title="Broker host",
                      description="Mosquitto (or any MQTT 3.1.1 broker)")
    port: int = Field(1883, ge=1, le=65535, title="Broker port",
                      description="1883 plain, 8883 TLS by convention")
    username: str | None = Field(None, min_length=1, max_length=128, title="Username",
                                 description="Broker account")
    password: SecretStr | None = Field(None, title="Password", description="Broker password")
    password_file: Path | None = Field(
        None, title="Password file", description="File holding the password (instead)")
    ca_file: Path | None = Field(
        None, title="CA file", description="PEM CA of the broker's certificate; set: TLS")
    client_id: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", title="Client id",
        description="Persistent session id; unset: fieldkit-NODE. QoS 1 readings sent while "
        "the node was away are delivered when it returns")
    reconnect_max_s: float = Field(
        30.0, ge=0.1, le=3600, title="Longest reconnect wait",
        description="Upper bound of the wait between attempts (doubles per failure)")

    @model_validator(mode="after")
    def _check(self) -> MqttSection:
        from fieldkit.config import is_loopback_host  # here: fieldkit.config imports this module

        if self.password is not None and self.password_file is not None:
            raise ValueError("sensors -> mqtt: give password or password_file, not both")
        has_password = self.password is not None or self.password_file is not None
        if has_password and self.username is None:
            raise ValueError("sensors -> mqtt: a password needs a username")
        if not is_loopback_host(self.host) and (not has_password or self.ca_file is None):
            raise ValueError(
                f"sensors -> mqtt: host {self.host!r} is not loopback, so username, password "
                "and ca_file (TLS) are required")
        return self


class SensorsSection(Section):
    """The city's sensors (the ``sensors`` part)."""

    enabled: bool = Field(False, title="Sensors", description="Run the sensors part")
    mqtt: MqttSection = Field(default_factory=MqttSection, title="MQTT broker",
                              description="Where the sensors publish")
    push_token: SecretStr | None = Field(
        None, title="Push token",
        description="Bearer token of POST /sensors/readings (16+ characters); unset: no route")
    push_token_file: Path | None = Field(
        None, title="Push token file", description="File holding the push token (instead)")
    sensors: list[SensorSection] = Field(
        default_factory=list, max_length=10_000, title="Sensors", description="Declared sensors")
    zones: list[SensorZoneSection] = Field(
        default_factory=list, max_length=1000, title="Zones", description="Zones they see")
    levels: StateLevels = Field(default_factory=StateLevels, title="State levels",
                                description="Thresholds of free/dense/congested/blocked")
    dwell_s: float = Field(
        10.0, ge=0, le=3600, title="Dwell",
        description="Seconds a new state must hold before the zone takes it")
    flow_window_s: float = Field(
        60.0, ge=1, le=3600, title="Flow window", description="Seconds inflow/outflow average")
    min_outflow_pm_s: float = Field(
        0.8, ge=0, le=10, title="Lowest safe outflow",
        description="Persons per metre per second; below it under congestion is a warning "
        "(Helbing et al. 2007 saw turbulence at the Jamarat bridge near this level)")
    counter_error: float = Field(
        0.01, ge=0, le=0.5, title="Counter error",
        description="Share of crossings a counter may miss or double: widens the occupancy band")
    max_clock_skew_s: float = Field(
        300.0, ge=1, le=86_400, title="Clock skew allowed",
        description="A reading stamped further from the node's clock gets the arrival time")
    transit: TransitSection = Field(default_factory=TransitSection, title="Transit",
                                    description="GTFS and GTFS-realtime")

    @model_validator(mode="after")
    def _check(self) -> SensorsSection:
        if self.push_token is not None and self.push_token_file is not None:
            raise ValueError("sensors: give push_token or push_token_file, not both")
        if self.push_token is not None and len(self.push_token.get_secret_value()) < 16:
            raise ValueError("sensors -> push_token: shorter than 16 characters")
        zones = [z.name for z in self.zones]
        _unique("sensors -> zones", zones)
        _unique("sensors -> sensors", [s.id for s in self.sensors])
        _unique("sensors -> sensors (topics)", [s.mqtt_topic for s in self.sensors])
        for zone in self.zones:
            for n in zone.neighbours:
                if n not in zones or n == zone.name:
                    raise ValueError(f"sensors -> zones -> {zone.name}: neighbour {n!r} is not "
                                     "another zone in sensors.zones")
        for s in self.sensors:
            if s.zone is not None and s.zone not in zones:
                raise ValueError(f"sensors -> sensors -> {s.id}: zone {s.zone!r} is not in "
                                 "sensors.zones")
        for station in self.transit.stations:
            if station.zone is not None and station.zone not in zones:
                raise ValueError(f"sensors -> transit -> stations -> {station.stop_id}: zone "
                                 f"{station.zone!r} is not in sensors.zones")
        return self


def _unique(where: str, names: list[str]) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{where}: {', '.join(dupes)} listed more than once")
