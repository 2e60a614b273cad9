"""The node's configuration: one typed model, loaded from ``fieldkit.toml``.

Loading is three steps, as in Frigate: :func:`read_config_text` finds the file,
:func:`parse_config` reads TOML, :func:`validate_config` checks it against
:class:`Config`. Each step raises :class:`~fieldkit.errors.ConfigError` with a
message that names the key, the value received and what is expected.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from fieldkit.analytics.config import CamerasSection
from fieldkit.errors import ConfigError
from fieldkit.hlc import DEFAULT_MAX_CLOCK_SKEW_S
from fieldkit.hq.config import HqSection
from sensors.config import SensorsSection

CONFIG_FILE = "fieldkit.toml"

NodeName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$",
        description="1-32 letters, digits, '-' or '_', starting with a letter or digit",
    ),
]


class _Section(BaseModel):
    # extra="forbid": a typo in a key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSection(_Section):
    name: NodeName = Field(title="Node name", description="Unique in the fleet, e.g. T07 or HQ")
    role: Literal["truck", "hq"] = Field(title="Role", description="'truck' or 'hq'")
    key_file: Path = Field(
        Path("node.key"), title="Key file", description="Ed25519 private key (PEM, mode 0600)"
    )
    database: Path = Field(
        Path("fieldkit.db"), title="Database", description="SQLite file of the incident log"
    )


class StoreSection(_Section):
    """Where the incident log lives: the node's SQLite file (node.database) unless a
    PostgreSQL URL is given here (HQ at city scale; see the README's HQ operators part)."""

    url: str | None = Field(
        None,
        title="PostgreSQL URL",
        description="postgresql://USER@HOST:PORT/DB; keep the password in ~/.pgpass, not here."
        " Unset: SQLite at node.database",
        max_length=2000,
    )

    @field_validator("url")
    @classmethod
    def _postgresql_only(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("postgresql://", "postgres://")):
            # The value is not echoed: it may hold a password.
            raise ValueError("store.url: must start with postgresql:// (unset it for SQLite)")
        return url

    @property
    def is_postgresql(self) -> bool:
        return self.url is not None


class ApiSection(_Section):
    host: str = Field(
        "127.0.0.1",
        title="Bind address",
        description="Address of the local API; anything but loopback requires a token",
    )
    port: int = Field(8470, ge=0, le=65535, title="Port", description="0 picks a free port")
    token_file: Path = Field(
        Path("api.token"),
        title="Token file",
        description="Bearer token clients must send when the API is bound beyond loopback",
    )
    max_body_bytes: int = Field(
        1 << 20,
        ge=1024,
        le=64 << 20,
        title="Largest request body",
        description="Larger bodies are refused with 413",
    )

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)


class TrustSection(_Section):
    nodes: dict[NodeName, str] = Field(
        default_factory=dict,
        title="Trusted nodes",
        description="Node name -> base64 Ed25519 public key, as `fieldkit init` prints it",
    )
    max_clock_skew_s: int = Field(
        DEFAULT_MAX_CLOCK_SKEW_S, ge=1, le=7 * 86_400, title="Maximum clock skew",
        description="Events dated further ahead of this node's clock are refused and "
                    "counted (sent again later by their origin)",
    )


class LoggingSection(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", title="Log level", description="DEBUG, INFO, WARNING or ERROR"
    )


class SyncPeer(_Section):
    name: NodeName = Field(title="Peer name", description="The peer's node name (its origin id)")
    url: str = Field(
        title="Peer URL",
        description="Base URL of the peer's node API, e.g. http://10.0.0.7:8470",
        pattern=r"^https?://[^/\s]+/?$",
        max_length=200,
    )


class SyncSection(_Section):
    enabled: bool = Field(
        True, title="Background sync", description="Sync with peers whenever one answers"
    )
    peers: list[SyncPeer] = Field(
        default_factory=list, title="Static peers", description="Trucks (or HQ) to sync with"
    )
    hq: NodeName | None = Field(
        None,
        title="HQ node",
        description="Name of the HQ node; its key (in trust.nodes) signs the fleet roster",
    )
    hq_url: str | None = Field(
        None,
        title="HQ URL",
        description="Base URL of HQ's node API; HQ is always a peer when set",
        pattern=r"^https?://[^/\s]+/?$",
        max_length=200,
    )
    discovery: bool = Field(
        False, title="Discovery", description="Announce and find peers with zeroconf (mDNS)"
    )
    discovery_interface: str = Field(
        "127.0.0.1",
        title="Discovery interface",
        description="IP address of the only interface zeroconf may use",
    )
    interval_s: float = Field(
        5.0, ge=0.05, le=3600, title="Sync interval", description="Seconds between sessions"
    )
    push_on_write: bool = Field(
        True,
        title="Push on write",
        description="A write to the log (local, or applied from a peer) starts a session with"
        " every reachable peer within about 0.1 s; off: only every interval_s",
    )
    backoff_max_s: float = Field(
        300.0,
        ge=0.1,
        le=86400,
        title="Longest backoff",
        description="Upper bound of the wait after failed sessions (doubles per failure)",
    )
    batch_events: int = Field(
        2000, ge=1, le=10000, title="Batch size", description="Events per atomic batch"
    )
    blob_budget_bytes: int = Field(
        8 << 20,
        ge=0,
        le=1 << 34,
        title="Blob budget",
        description="Attachment bytes sent or fetched per session, each way",
    )
    timeout_s: float = Field(
        30.0, gt=0, le=600, title="Request timeout", description="Seconds per sync request"
    )
    max_clock_skew_s: int = Field(
        300,
        ge=5,
        le=86400,
        title="Clock skew allowed",
        description="Signed requests older or newer than this are refused as replays",
    )

    @model_validator(mode="after")
    def _peers_unique(self) -> SyncSection:
        names = [p.name for p in self.peers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sync -> peers: {', '.join(dupes)} listed more than once")
        if self.hq_url is not None and self.hq is None:
            raise ValueError("sync -> hq_url is set, so sync.hq (HQ's node name) is required")
        try:
            iface = ipaddress.IPv4Address(self.discovery_interface)
        except ValueError:
            raise ValueError(f"sync -> discovery_interface {self.discovery_interface!r} is "
                             "not an IPv4 address") from None
        if iface.is_unspecified:
            raise ValueError("sync -> discovery_interface 0.0.0.0 would use every interface; "
                             "name the one interface discovery may use")
        return self


class DroneCameraSection(_Section):
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


class DroneLinkSection(_Section):
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


class DroneVehicleSection(_Section):
    name: str = Field(
        min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$", title="Vehicle name",
        description="How crews call the drone, e.g. D1 (used in incidents and links)",
    )
    link: NodeName = Field(title="Link", description="Name of the link it reports on")
    system_id: int = Field(ge=1, le=255, title="MAVLink system id", description="1-255")
    camera: DroneCameraSection | None = Field(
        None, title="Camera", description="Overrides drones.camera for this vehicle"
    )


class GeofenceSection(_Section):
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


class DronesSection(_Section):
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


class HardwareSection(_Section):
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
        description="Position and telemetry samples older than this are pruned; events never",
    )


class WhipPublisherSection(_Section):
    name: NodeName = Field(
        title="Feed name", description="The publisher's feed, e.g. D1-video (a camera name in "
        "analytics and the live view)")
    token: SecretStr | None = Field(
        None, title="Bearer token", description="What the pilot or drone sends (16+ characters)")
    token_file: Path | None = Field(
        None, title="Token file", description="File holding the token (instead of token)")
    vehicle: str | None = Field(
        None, min_length=1, max_length=64, title="Vehicle",
        description="drones.vehicles name whose MAVLink pose geo-references this feed")

    @model_validator(mode="after")
    def _one_token(self) -> WhipPublisherSection:
        if (self.token is None) == (self.token_file is None):
            raise ValueError(f"webrtc -> publishers -> {self.name}: give token or token_file "
                             "(one of them)")
        if self.token is not None and len(self.token.get_secret_value()) < 16:
            raise ValueError(f"webrtc -> publishers -> {self.name}: the token is shorter "
                             "than 16 characters")
        return self


class WebRTCSection(_Section):
    """Drone video received on the WHIP endpoint (drone/video)."""

    enabled: bool = Field(True, title="WHIP endpoint", description="Serve /whip and /publish")
    ice_addresses: list[str] | None = Field(
        None, title="ICE addresses", description="Host candidates offered; unset: every "
        "address of this host but loopback (set [\"127.0.0.1\"] for tests and the demo)")
    publishers: list[WhipPublisherSection] = Field(
        default_factory=list, title="Publishers", description="One token per pilot or drone")
    max_sessions: int = Field(8, ge=1, le=64, title="Concurrent publishers",
                              description="More sessions are refused with 503")
    timeout_s: float = Field(
        10.0, gt=0, le=300, title="Vanished after",
        description="Seconds without a frame (or to connect) before a session is closed")
    analyse: bool = Field(True, title="Analytics", description="Feed frames to the analytics")
    analyse_fps: float = Field(4.0, gt=0, le=60, title="Analysed frame rate",
                               description="Most frames per second sent to the detector")

    @model_validator(mode="after")
    def _unique(self) -> WebRTCSection:
        names = [p.name for p in self.publishers]
        if len(set(names)) != len(names):
            raise ValueError("webrtc -> publishers: names must be unique")
        return self


class Config(_Section):
    """The whole configuration of one node."""

    node: NodeSection
    api: ApiSection = Field(default_factory=ApiSection)
    trust: TrustSection = Field(default_factory=TrustSection)
    store: StoreSection = Field(default_factory=StoreSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    sync: SyncSection = Field(default_factory=SyncSection)
    drones: DronesSection = Field(default_factory=DronesSection)
    hardware: HardwareSection = Field(default_factory=HardwareSection)
    cameras: CamerasSection = Field(default_factory=CamerasSection)
    hq: HqSection = Field(default_factory=HqSection)
    webrtc: WebRTCSection = Field(default_factory=WebRTCSection)
    sensors: SensorsSection = Field(default_factory=SensorsSection)
    base_dir: Path = Field(
        Path("."),
        exclude=True,
        title="Node directory",
        description="Directory the config was read from; relative paths resolve against it",
    )

    @model_validator(mode="after")
    def _own_key_not_in_trust(self) -> Config:
        if self.node.name in self.trust.nodes:
            raise ValueError(
                f"trust.nodes: lists this node's own name {self.node.name!r}; "
                "a node always trusts its own key, remove the entry"
            )
        return self

    def path(self, relative: Path) -> Path:
        """Resolve a path from the config against the node directory."""
        return relative if relative.is_absolute() else self.base_dir / relative


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_config_text(node_dir: Path) -> str:
    path = node_dir / CONFIG_FILE
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no config at {path}: run `fieldkit init --role truck --name NAME --dir {node_dir}`"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def parse_config(text: str, source: str = CONFIG_FILE) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc


def validate_config(data: dict[str, Any], base_dir: Path, source: str = CONFIG_FILE) -> Config:
    try:
        return Config.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + "; ".join(_describe(e) for e in exc.errors())) from exc


def load_config(node_dir: Path) -> Config:
    """Read, parse and validate ``fieldkit.toml`` in ``node_dir``."""
    source = str(node_dir / CONFIG_FILE)
    data = parse_config(read_config_text(node_dir), source)
    if "base_dir" in data:
        raise ConfigError(f"{source}: base_dir: unknown key; the node directory is implied")
    return validate_config(data, node_dir, source)


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "missing":
        return f"{key}: missing, a value is required"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] == "value_error":  # from a model_validator: the message names the key
        return str(error["msg"]).removeprefix("Value error, ")
    if "signing_key" in key:  # a secret: never echo it, even when it is malformed
        return f"{key}: the value given is invalid: {error['msg']}"
    return f"{key}: {error['input']!r} is invalid: {error['msg']}"
