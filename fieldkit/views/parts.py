"""Views of the node's parts: cameras and drone feeds, drones, live video, sync peers,
the fleet picture and the truck's hardware. Times are node wall-clock milliseconds
(``*_ms``) or ages computed when the answer was made (``*_s_ago``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, RootModel

from fieldkit.views._base import View
from fieldkit.views.sensors import FleetZone

# --- cameras ------------------------------------------------------------------------------


class ZoneView(View):
    """One watched zone of a camera: its last closed metrics window."""

    zone: str = Field(description="Zone name")
    end_ms: int = Field(description="When the window closed (node wall clock, ms)")
    window_s: float = Field(ge=0, description="Window length, seconds")
    count: float = Field(ge=0, description="Mean people in the zone over the window")
    peak: int = Field(ge=0, description="Most people seen at once in the window")
    density: float = Field(ge=0, description="Mean persons per square metre")
    band: tuple[float, float] | None = Field(
        None, description="Density interval (low, high) in persons/m², when the counter "
        "reports one")
    level: str = Field(description="Fruin level of service, A (free) .. F (jammed)")
    method: str | None = Field(None, description="detector, density or fused: how it was "
                               "counted in most of the window")
    uncertain: str | None = Field(None, description="Why the estimate was uncertain in the "
                                  "window (None: it never was)")
    counts: list[float] = Field(description="Mean count of each recent window, oldest first")


class CameraView(View):
    """A mast camera or a drone's video feed, as analysed on this node."""

    kind: Literal["mast", "drone"] = Field("mast", description="mast camera or drone feed")
    state: str = Field(description="starting, connecting, streaming, reconnecting, ended, "
                       "stopped")
    fps_in: float | None = Field(None, ge=0, description="Frames received per second")
    fps_analysed: float | None = Field(None, ge=0, description="Frames analysed per second")
    frames_in: int = Field(0, ge=0, description="Frames received since start")
    frames_analysed: int = Field(0, ge=0, description="Frames analysed since start")
    reconnects: int = Field(0, ge=0, description="Times the source was reopened")
    last_frame_ms: int | None = Field(None, description="Newest frame (node wall clock, ms)")
    last_error: str = Field("", description="The last ingest error, if any")
    zones: list[ZoneView] = Field(default_factory=list, description="Watched zones")
    people: int | None = Field(None, ge=0, description="People tracked in the newest "
                               "analysed picture (drone feeds: they have no zones)")


class CamerasView(RootModel[dict[str, CameraView]]):
    """``GET /api/cameras``: every configured camera and live drone feed, by name."""


# --- drones -------------------------------------------------------------------------------


class DroneView(View):
    """A vehicle's newest telemetry sample. Mirrors ``drone.state.TelemetrySample`` (and
    :class:`LinkView` ``drone.receiver.LinkStats``): fieldkit does not import drone/, and
    tests/views check that the fields match."""

    name: str = Field(description="Same as vehicle (kept for older consoles)")
    vehicle: str = Field(description="Configured name, or LINK-SYSID")
    link: str = Field(description="The MAVLink link it arrived on")
    system_id: int = Field(description="MAVLink system id")
    at: float = Field(description="When sampled (node wall clock, Unix seconds)")
    autopilot: str | None = None
    mode: str | None = None
    armed: bool | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    alt_amsl_m: float | None = None
    alt_rel_m: float | None = Field(None, description="Altitude above home, metres")
    heading_deg: float | None = None
    groundspeed_ms: float | None = None
    roll_deg: float | None = None
    pitch_deg: float | None = None
    yaw_deg: float | None = None
    gimbal_roll_deg: float | None = None
    gimbal_pitch_deg: float | None = None
    gimbal_yaw_deg: float | None = None
    hfov_deg: float | None = None
    vfov_deg: float | None = None
    battery_pct: float | None = None
    battery_v: float | None = None
    gps_fix: int | None = Field(None, description="0-1 none, 2 2D, 3 3D, 4+ DGPS/RTK")
    satellites: int | None = None
    gps_accuracy_m: float | None = None
    loss_pct: float | None = Field(None, description="Packets lost since the last sample, %")
    heartbeat_age_s: float | None = Field(
        None, description="Seconds since the last heartbeat (the age of mode, armed, autopilot)")
    position_age_s: float | None = Field(
        None, ge=0, description="Seconds since lat, lon and altitudes arrived (None: not yet "
        "this session)")
    velocity_age_s: float | None = Field(
        None, ge=0, description="Seconds since heading and groundspeed arrived")
    attitude_age_s: float | None = Field(
        None, ge=0, description="Seconds since roll, pitch and yaw arrived")
    gimbal_age_s: float | None = Field(
        None, ge=0, description="Seconds since the gimbal attitude arrived")
    battery_age_s: float | None = Field(
        None, ge=0, description="Seconds since the battery level arrived")
    gps_age_s: float | None = Field(
        None, ge=0, description="Seconds since fix type, satellites and accuracy arrived")
    session: int = Field(
        1, ge=1, description="Sessions of this vehicle seen (a reboot or new autopilot on "
        "the same system id adds one, and clears the previous session's values)")
    fresh: bool = Field(
        True, description="Telemetry arrived since the previous sample (only such samples "
        "are stored)")
    stale: list[Literal["heartbeat", "position", "velocity", "attitude", "gimbal", "battery",
                        "gps"]] = Field(
        default_factory=list, description="Field groups older than their drones.stale "
        "threshold (heartbeat: drones.link_lost_s): shown as stale, never as current")


class SigningView(View):
    accepted: int = 0
    unsigned: int = 0
    bad_signature: int = 0
    replayed: int = 0


class LinkView(View):
    """Counters of one MAVLink link since it started."""

    bytes: int = 0
    packets: int = 0
    bad_data: int = 0
    truncated: int = 0
    unknown: int = 0
    not_vehicle: int = 0
    too_many_vehicles: int = 0
    forwarded: int = 0
    signing: SigningView | None = None
    rejected_values: int = 0


class DronesView(View):
    """``GET /api/drones``: every vehicle heard and every link's counters."""

    vehicles: list[DroneView]
    links: dict[str, LinkView]


class GroundPointView(View):
    """``GET /api/drones/{vehicle}/ground``: where a pixel of the drone's camera lies."""

    lat: float
    lon: float
    accuracy_m: float = Field(description="1-sigma horizontal error radius, metres")
    distance_m: float = Field(description="From the point below the drone, metres")


class FeedRef(View):
    name: str
    kind: Literal["camera", "drone"]


class LiveFeedsView(View):
    """``GET /api/live``: the feeds that have a picture."""

    feeds: list[FeedRef]


class WebrtcSessionView(View):
    id: str
    feed: str
    state: str
    frames: int
    codec: str | None
    size: list[int] | None
    created: float = Field(description="Unix seconds")


class WebrtcView(View):
    """``GET /api/webrtc``: WHIP sessions of drone pilots."""

    sessions: list[WebrtcSessionView]


# --- sync and fleet -----------------------------------------------------------------------


class PeerView(View):
    """One sync peer as this node sees it."""

    peer: str
    url: str | None
    trust: str = Field(description="trusted, unknown or revoked")
    last_contact_s_ago: float | None
    pending_out: int | None = Field(description="Events they lack that we may send")
    pending_in: int | None = Field(description="Events we lack that they hold")
    lag_s: float | None = Field(description="Age of the oldest event they lack, seconds")
    failures: int
    last_error: str | None


class SyncStatusView(View):
    """``GET /api/sync/status``: ``fieldkit sync status`` as JSON."""

    node: str
    roster_version: int
    peers: list[PeerView]


class KitView(View):
    """A camera or drone in the fleet picture."""

    last_seen_s_ago: float | None
    down: bool = False
    alert: str | None = Field(None, description="Title of the open fault incident")


class TopIncident(View):
    id: str
    title: str
    kind: str
    severity: int
    status: str


class FleetNode(View):
    node: str
    is_self: bool = Field(alias="self", description="This node")
    last_sync_s_ago: float | None
    last_sync_error: str | None
    last_event_s_ago: float | None
    events: int
    open_incidents: int
    top_incidents: list[TopIncident]
    cameras: dict[str, KitView]
    drones: dict[str, KitView]
    zones: dict[str, FleetZone] = Field(
        default_factory=dict, description="Zones its city sensors reported degraded")
    sensors_silent: str | None = Field(
        None, description="Its open silent-sensor incident's description (None: all heard)")


class LiveDrone(View):
    name: str
    lat: float | None
    lon: float | None


class LiveParts(View):
    """What this node's own running parts report right now."""

    cameras: dict[str, CameraView]
    drones: list[LiveDrone]


class FleetView(View):
    """``GET /api/hq/fleet``: per node, last sync, open incidents, cameras and drones."""

    node: str
    nodes: list[FleetNode]
    live: LiveParts


# --- hardware -----------------------------------------------------------------------------


class PositionSample(View):
    at_ms: int
    gps_time: str | None
    lat: float
    lon: float
    alt_m: float | None
    speed_ms: float | None
    track_deg: float | None
    eph_m: float | None
    mode: int


class HardwareView(View):
    """``GET /api/hardware``: the truck's position and health (``{"state": "disabled"}``
    when the config turns them off)."""

    position: dict[str, Any] = Field(description="state, gpsd, fix, reports, recorded, "
                                     "last_error")
    health: dict[str, Any] = Field(description="state, readings, pruned")
    alerts: dict[str, str] = Field(description="Open health alerts: rule -> incident id")
