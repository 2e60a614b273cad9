"""Views of the sensors part (city people counters, turnstiles, road sensors): zone
states, sensor health, the broker connection and stored readings. Ages are computed when
the answer was made (``*_s``); times are node wall-clock milliseconds (``*_ms``)."""

from __future__ import annotations

from pydantic import Field, RootModel

from fieldkit.views._base import View


class CameraSightView(View):
    """A camera's latest window over the same ground as a sensors zone."""

    camera: str = Field(description="Camera (or drone feed) name")
    count: float = Field(ge=0, description="Mean people it saw in the zone")
    density: float = Field(ge=0, description="Mean persons/m²")
    band: tuple[float, float] | None = Field(description="Density interval, when known")
    age_s: float = Field(ge=0, description="Seconds since that window closed")


class SensorZoneView(View):
    """A zone as its city sensors see it."""

    zone: str = Field(description="Zone name")
    kind: str = Field(description="pedestrian or road")
    state: str = Field(description="unknown, free, dense, congested or blocked")
    state_age_s: float = Field(ge=0, description="Seconds since the zone took that state")
    since_ms: int | None = Field(
        None, ge=0, description="When it took that state (node wall clock); unknown from "
        "the start: when the node began to listen")
    measure: str | None = Field(description="What the state is judged on: density "
                                "(persons/m²) or road_occupancy (%); None: no fresh sensor")
    value: float | None = Field(description="That measure now")
    density: float | None = Field(
        None, ge=0, description="Persons/m² of the source that judges it (the densest fresh "
        "one); None: a road, or no fresh source")
    density_band: tuple[float, float] | None = Field(
        None, description="Low and high bound of that density, when its source gives one")
    density_source: str | None = Field(
        None, description="Which source: sensors (the zone's counters) or camera NAME")
    density_method: str | None = Field(
        None, description="How it was counted: people count, entries-exits (anchored by a "
        "count, or from an assumed empty zone), or the camera's method")
    age_s: float | None = Field(
        None, ge=0, description="Seconds since its newest datum (reading or camera window) "
        "arrived, fresh or not; None: nothing ever heard")
    occupancy: float | None = Field(description="People inside (gated pedestrian zones)")
    occupancy_band: tuple[float, float] | None = Field(
        description="Low and high bound of the occupancy: counters miss and double people")
    anchored: bool | None = Field(
        description="An absolute count (people counter, venue occupancy) has set the "
        "occupancy; false: it counts crossings from an assumed empty zone")
    drift: float | None = Field(description="Estimate minus an absolute count at the last "
                                "correction, or the shortfall when it fell below zero")
    inflow_p_s: float | None = Field(description="Persons per second in, over the flow window")
    outflow_p_s: float | None = Field(description="Persons per second out")
    outflow_pm_s: float | None = Field(description="Outflow per metre of exit width")
    spare_capacity: float | None = Field(description="People it can take before it is dense")
    camera: CameraSightView | None = Field(
        description="A camera zone of the same name: its latest window (it also judges the "
        "state: the worse source wins)")
    camera_difference: float | None = Field(
        description="Sensors' occupancy minus the camera's count (gated zones)")
    sensors: list[str] = Field(description="Ids of the sensors that see it")


class SensorView(View):
    """One declared sensor's health."""

    id: str = Field(description="Sensor id")
    kind: str = Field(description="people_count, occupancy, line_in/out, turnstile_in/out, "
                      "road_speed, road_flow or road_occupancy")
    zone: str | None = Field(description="The zone it sees")
    value: float | None = Field(description="Its latest value (None: never heard)")
    age_s: float | None = Field(description="Seconds since its latest reading arrived")
    expected_interval_s: float | None = Field(
        None, gt=0, description="Seconds between its reports, as declared")
    healthy: bool = Field(description="Heard within 3 expected intervals")
    fault: str | None = Field(
        None, description="never heard, or silent N s, once beyond 3 expected intervals "
        "(what its sensor_fault incident names); None while it reports")
    received: int = Field(ge=0, description="Readings accepted since the node started")
    out_of_order: int = Field(ge=0, description="Of those, older than one already held")
    rejected: int = Field(ge=0, description="Payloads refused (malformed, out of range)")
    last_error: str | None = Field(description="Why the last refused payload was refused")


class MqttView(View):
    """The connection to the broker (``{"state": "disabled"}`` when off)."""

    state: str = Field(description="disabled, new, connecting, connected, backoff, stopped")
    broker: str | None = Field(None, description="host:port")
    tls: bool | None = Field(None, description="Whether the connection uses TLS")
    connects: int | None = Field(None, ge=0, description="Successful connections so far")
    last_error: str | None = Field(None, description="Why the last attempt failed")


class TransitView(View):
    """GTFS and GTFS-realtime as this node reads them."""

    schedule: bool = Field(description="The GTFS schedule is loaded")
    feeds: list[str] = Field(description="Realtime feeds read at least once")
    errors: dict[str, str] = Field(description="Feed -> why its last read failed")
    disrupted: list[str] = Field(description="Stations with an open transport incident")


class SensorsView(View):
    """``GET /api/sensors``: zone states, sensor health and the broker connection."""

    enabled: bool = Field(description="Whether the sensors part runs")
    zones: list[SensorZoneView]
    sensors: list[SensorView]
    stored: int = Field(ge=0, description="Readings stored since the node started")
    duplicates: int = Field(ge=0, description="Readings skipped as already held")
    mqtt: MqttView
    transit: TransitView | None = Field(None, description="None: no stations watched")


class SensorReadingView(View):
    sensor: str
    kind: str
    zone: str | None
    value: float
    at_ms: int = Field(description="When measured (node wall clock)")
    sensor_ms: int | None = Field(description="The sensor's own stamp, as sent")
    received_ms: int = Field(description="Arrival at this node")
    via: str = Field(description="mqtt or http")


class SensorReadingList(RootModel[list[SensorReadingView]]):
    """Stored readings, newest first."""


class PushView(View):
    """``POST /sensors/readings``: what a push stored."""

    stored: int = Field(ge=0, description="Readings new to this node")
    duplicates: int = Field(ge=0, description="Readings it already held (a retried push)")


class FleetZone(View):
    """A zone a node's city sensors reported degraded, as its latest incident says."""

    state: str = Field(description="dense, congested or blocked while open; free once "
                       "resolved")
    since_s_ago: float | None = Field(description="Seconds since that incident changed")
    incident: str = Field(description="The zone's incident")
