"""Database schema, as an ordered set of sqlite-utils migrations.

Never edit a released migration: add a new one. A database that has applied a migration
missing here was written by a newer fieldkit and is refused (see :mod:`fieldkit.store`).
The same migrations build a PostgreSQL store: :mod:`fieldkit.pgstore` runs them through
a target that rewrites SQLite's column types and triggers into PostgreSQL's, so write
portable SQL here (``ON CONFLICT``, no SQLite-only functions besides ``json_extract``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlite_utils import Migrations

from fieldkit.storeapi import Connection
from fieldkit.view import rebuild_view


class Database(Protocol):
    """What a migration uses: sqlite-utils' Database, or the PostgreSQL store's target."""

    @property
    def conn(self) -> Connection: ...

    def execute(self, sql: str, /) -> Any: ...


Migration = Callable[[Database], None]
MIGRATIONS = Migrations("fieldkit")
#: Every migration this version knows, in order: (name, function).
MIGRATION_STEPS: list[tuple[str, Migration]] = []
MIGRATION_NAMES: list[str] = []


def _run(db: Database, *statements: str) -> None:
    # One statement at a time: sqlite3's executescript() would COMMIT the migration's
    # transaction first, making it non-atomic.
    for statement in statements:
        db.execute(statement)


def _migration(fn: Migration) -> Migration:
    MIGRATION_NAMES.append(fn.__name__)
    MIGRATION_STEPS.append((fn.__name__, fn))
    return MIGRATIONS()(fn)


@_migration
def m001_event_log(db: Database) -> None:
    """The append-only event log and content-addressed blobs."""
    _run(
        db,
        """CREATE TABLE events (
            arrival INTEGER PRIMARY KEY,  -- local arrival order: the live feed's cursor
            origin TEXT NOT NULL,
            seq INTEGER NOT NULL,
            hlc INTEGER NOT NULL,
            incident TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            prev TEXT NOT NULL,
            hash TEXT NOT NULL,
            sig TEXT NOT NULL,
            UNIQUE (origin, seq)
        )""",
        "CREATE INDEX events_incident ON events (incident)",
        "CREATE INDEX events_hlc ON events (hlc)",
        # Events are immutable: retention and repair may never rewrite the log.
        """CREATE TRIGGER events_immutable BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are immutable'); END""",
        """CREATE TRIGGER events_append_only BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
        """CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY,
            mime TEXT NOT NULL,
            size INTEGER NOT NULL,
            data BLOB NOT NULL
        )""",
    )


@_migration
def m002_incident_view(db: Database) -> None:
    """The materialised incidents table, folded from the events already held."""
    _run(
        db,
        """CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity INTEGER NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    reported_by TEXT NOT NULL,
    zone TEXT,
    camera TEXT,
    lat REAL,
    lon REAL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    conflicts INTEGER NOT NULL,
    state TEXT NOT NULL
)""",
        """CREATE INDEX incidents_status ON incidents (status, severity)""",
        """CREATE INDEX incidents_updated ON incidents (updated_at)""",
    )
    rebuild_view(db.conn)


@_migration
def m003_rejections(db: Database) -> None:
    """Counters of events refused, per origin and reason code."""
    _run(
        db,
        """CREATE TABLE rejections (
    origin TEXT NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    last_detail TEXT NOT NULL,
    PRIMARY KEY (origin, reason)
)""",
    )


@_migration
def m005_sync(db: Database) -> None:
    """Sync state: the HQ-signed fleet roster held, and what is known of each peer."""
    _run(
        db,
        """CREATE TABLE sync_roster (
    id INTEGER PRIMARY KEY CHECK (id = 1),  -- one roster: the newest valid one seen
    version INTEGER NOT NULL,
    document TEXT NOT NULL
)""",
        """CREATE TABLE sync_peers (
    name TEXT PRIMARY KEY,
    url TEXT,
    last_attempt INTEGER,
    last_contact INTEGER,
    last_error TEXT,
    vector TEXT NOT NULL DEFAULT '{}',  -- the peer's version vector at last contact
    sent INTEGER NOT NULL DEFAULT 0,
    received INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0
)""",
    )


@_migration
def m004_drone_telemetry(db: Database) -> None:
    """Drone telemetry sampled from MAVLink, and the drone alerts raised as incidents.

    (Registered after m005_sync, which landed first; order between the two is irrelevant.)
    """
    _run(
        db,
        """CREATE TABLE drone_samples (
    id INTEGER PRIMARY KEY,
    vehicle TEXT NOT NULL,
    link TEXT NOT NULL,
    system_id INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,           -- node wall clock when sampled
    autopilot TEXT,
    mode TEXT,
    armed INTEGER,
    lat REAL,
    lon REAL,
    alt_amsl_m REAL,
    alt_rel_m REAL,
    heading_deg REAL,
    groundspeed_ms REAL,
    roll_deg REAL,
    pitch_deg REAL,
    yaw_deg REAL,
    gimbal_roll_deg REAL,
    gimbal_pitch_deg REAL,
    gimbal_yaw_deg REAL,              -- earth frame (true north)
    hfov_deg REAL,
    vfov_deg REAL,
    battery_pct REAL,
    battery_v REAL,
    gps_fix INTEGER,
    satellites INTEGER,
    loss_pct REAL,                    -- from MAVLink sequence numbers
    heartbeat_age_s REAL
)""",
        "CREATE INDEX drone_samples_vehicle ON drone_samples (vehicle, at_ms)",
        """CREATE TABLE drone_alerts (
    id INTEGER PRIMARY KEY,
    vehicle TEXT NOT NULL,
    rule TEXT NOT NULL,               -- link_lost, battery, gps_lost, geofence:NAME
    incident TEXT NOT NULL,
    raised_at INTEGER NOT NULL,
    cleared_at INTEGER
)""",
        # At most one open alert per vehicle and rule: each condition is raised once.
        """CREATE UNIQUE INDEX drone_alerts_open ON drone_alerts (vehicle, rule)
    WHERE cleared_at IS NULL""",
    )


@_migration
def m006_truck_hardware(db: Database) -> None:
    """The truck's own position samples (from gpsd) and its health alerts."""
    _run(
        db,
        """CREATE TABLE truck_positions (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,           -- node wall clock when sampled
    gps_time TEXT,                    -- the receiver's UTC time of the fix
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    alt_m REAL,
    speed_ms REAL,
    track_deg REAL,
    eph_m REAL,
    mode INTEGER NOT NULL
)""",
        "CREATE INDEX truck_positions_at ON truck_positions (at_ms)",
        """CREATE TABLE health_alerts (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,               -- disk_full, overheating, on_battery, clock_unsynced
    incident TEXT NOT NULL,
    raised_at INTEGER NOT NULL,
    cleared_at INTEGER
)""",
        # At most one open alert per rule: each condition is raised once.
        """CREATE UNIQUE INDEX health_alerts_open ON health_alerts (rule)
    WHERE cleared_at IS NULL""",
    )


@_migration
def m007_zone_metrics(db: Database) -> None:
    """Camera analytics: per-zone time series and the alerts the rules raised."""
    _run(
        db,
        """CREATE TABLE zone_metrics (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    zone TEXT NOT NULL,
    start_ms INTEGER NOT NULL,        -- window start, node wall clock
    end_ms INTEGER NOT NULL,
    samples INTEGER NOT NULL,         -- analysed frames in the window
    count REAL NOT NULL,              -- mean people in the zone
    peak INTEGER NOT NULL,
    density REAL NOT NULL,            -- mean persons/m²
    level TEXT NOT NULL,              -- Fruin level of service A..F
    speed_m_s REAL,
    direction_deg REAL,
    counter_flow_share REAL NOT NULL,
    stationary_share REAL NOT NULL
)""",
        "CREATE INDEX zone_metrics_at ON zone_metrics (camera, zone, start_ms)",
        """CREATE TABLE camera_alerts (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    rule TEXT NOT NULL,               -- density:ZONE, counter_flow:ZONE, fault, person_down:ID
    incident TEXT NOT NULL,
    raised_at INTEGER NOT NULL,
    cleared_at INTEGER
)""",
        # At most one open alert per camera and rule: one incident per situation.
        """CREATE UNIQUE INDEX camera_alerts_open ON camera_alerts (camera, rule)
    WHERE cleared_at IS NULL""",
    )


@_migration
def m008_call_contacts(db: Database) -> None:
    """Emergency calls taken at this node, with the caller's callback number.

    Personal data: this table is local. It is never synced and never written into events
    (unless ``hq.share_callback_numbers`` is set, which adds the number as a note).
    """
    _run(
        db,
        """CREATE TABLE call_contacts (
    id INTEGER PRIMARY KEY,
    incident TEXT NOT NULL,           -- the incident the call opened or was merged into
    received_at INTEGER NOT NULL,     -- node wall clock, ms
    callback TEXT NOT NULL,
    merged INTEGER NOT NULL           -- 1: the call joined an existing incident
)""",
        "CREATE INDEX call_contacts_incident ON call_contacts (incident)",
    )


@_migration
def m009_alerts(db: Database) -> None:
    """One ``alerts`` table for every part's situations (see :mod:`fieldkit.alerts`)."""
    _run(
        db,
        """CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    subject TEXT NOT NULL,            -- what is watched: drone:NAME, camera:NAME, node
    rule TEXT NOT NULL,               -- what holds: battery, density:ZONE, disk_full, ...
    incident TEXT NOT NULL,
    raised_at INTEGER NOT NULL,       -- node wall clock, ms
    cleared_at INTEGER
)""",
        # One open alert per situation: this index is what makes raising idempotent.
        """CREATE UNIQUE INDEX alerts_open ON alerts (subject, rule)
    WHERE cleared_at IS NULL""",
        "CREATE INDEX alerts_situation ON alerts (subject, rule, id)",
    )


@_migration
def m010_sensor_readings(db: Database) -> None:
    """City sensors' readings (people counters, turnstiles, road sensors).

    Measurements, local to the node that took them (never synced); pruned like the other
    sample tables. A reading stamped by its sensor is held once (QoS 1 redeliveries).
    """
    _run(
        db,
        """CREATE TABLE sensor_readings (
    id INTEGER PRIMARY KEY,
    sensor TEXT NOT NULL,
    kind TEXT NOT NULL,
    zone TEXT,
    value REAL NOT NULL,
    at_ms INTEGER NOT NULL,           -- when measured (node wall clock)
    sensor_ms INTEGER,                -- the sensor's own stamp as sent
    received_ms INTEGER NOT NULL,     -- arrival at this node
    via TEXT NOT NULL                 -- mqtt or http
)""",
        "CREATE INDEX sensor_readings_at ON sensor_readings (sensor, at_ms)",
        """CREATE UNIQUE INDEX sensor_readings_once ON sensor_readings (sensor, sensor_ms)
    WHERE sensor_ms IS NOT NULL""",
    )


@_migration
def m011_alerts_moved(db: Database) -> None:
    """Drones, cameras and hardware health raise through ``alerts``: their own alert
    tables move into it and go.

    Every row moves, cleared ones too: the last alert of a situation says which incident
    a returning situation continues while the crew has not resolved it.
    """
    _run(
        db,
        """INSERT INTO alerts (subject, rule, incident, raised_at, cleared_at)
    SELECT 'drone:' || vehicle, rule, incident, raised_at, cleared_at FROM drone_alerts
    ORDER BY id""",
        """INSERT INTO alerts (subject, rule, incident, raised_at, cleared_at)
    SELECT 'camera:' || camera, rule, incident, raised_at, cleared_at FROM camera_alerts
    ORDER BY id""",
        """INSERT INTO alerts (subject, rule, incident, raised_at, cleared_at)
    SELECT 'node', rule, incident, raised_at, cleared_at FROM health_alerts ORDER BY id""",
        "DROP TABLE drone_alerts",
        "DROP TABLE camera_alerts",
        "DROP TABLE health_alerts",
    )


@_migration
def m012_zone_estimate(db: Database) -> None:
    """Each zone window says how sure its count is: the persons/m² band, how it was
    estimated (detector, density, fused) and why it is uncertain (NULL: validated)."""
    _run(
        db,
        "ALTER TABLE zone_metrics ADD COLUMN density_low REAL",
        "ALTER TABLE zone_metrics ADD COLUMN density_high REAL",
        "ALTER TABLE zone_metrics ADD COLUMN method TEXT",
        "ALTER TABLE zone_metrics ADD COLUMN uncertain TEXT",
    )


@_migration
def m013_signature_repair(db: Database) -> None:
    """An event's content stays immutable, but a signature that does not verify may be
    replaced by a genuine one (a relay that stored a tampered copy heals when a true copy
    arrives: the signature is not part of the hash)."""
    _run(
        db,
        "DROP TRIGGER events_immutable",
        """CREATE TRIGGER events_immutable
            BEFORE UPDATE OF arrival, origin, seq, hlc, incident, kind, payload, prev, hash
            ON events BEGIN SELECT RAISE(ABORT, 'events are immutable'); END""",
    )


@_migration
def m014_expired_blobs(db: Database) -> None:
    """Snapshots pruned by retention (``cameras.snapshot_retention_days``): the content is
    gone, the attach events keep its hash, and this local row says when it expired (never
    synced: each node expires its own copies)."""
    _run(
        db,
        """CREATE TABLE expired_blobs (
    sha256 TEXT PRIMARY KEY,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    expired_at INTEGER NOT NULL,      -- node wall clock, ms
    retention_days REAL NOT NULL      -- the setting that expired it
)""",
    )


@_migration
def m015_drone_field_ages(db: Database) -> None:
    """A drone sample says how old each group of its fields is (a heartbeat may arrive
    with a position minutes old) and which session of the vehicle it belongs to."""
    _run(
        db,
        "ALTER TABLE drone_samples ADD COLUMN position_age_s REAL",
        "ALTER TABLE drone_samples ADD COLUMN velocity_age_s REAL",
        "ALTER TABLE drone_samples ADD COLUMN attitude_age_s REAL",
        "ALTER TABLE drone_samples ADD COLUMN gimbal_age_s REAL",
        "ALTER TABLE drone_samples ADD COLUMN battery_age_s REAL",
        "ALTER TABLE drone_samples ADD COLUMN gps_age_s REAL",
        "ALTER TABLE drone_samples ADD COLUMN session INTEGER",
    )


#: The board's order (open incidents first, then by severity and most recent change):
#: the index below serves it only while :meth:`IncidentLog.incidents` says it alike.
BOARD_ORDER = "(status IN ('resolved', 'closed')), severity DESC, updated_at DESC, id"


@_migration
def m016_board_index(db: Database) -> None:
    """The board read in its own order: a console's ``limit=50`` reads 50 index entries,
    not every incident sorted (50,000 at a city's HQ, read by every console each second)."""
    _run(db, f"CREATE INDEX incidents_board ON incidents ({BOARD_ORDER})")
