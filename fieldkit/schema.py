"""Database schema, as an ordered set of sqlite-utils migrations.

Never edit a released migration: add a new one. A database that has applied a migration
missing here was written by a newer fieldkit and is refused (see :mod:`fieldkit.store`).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database, Migrations

from fieldkit.view import rebuild_view

MIGRATIONS = Migrations("fieldkit")
#: Names of every migration this version knows, in order.
MIGRATION_NAMES: list[str] = []


def _run(db: Database, *statements: str) -> None:
    # One statement at a time: sqlite3's executescript() would COMMIT the migration's
    # transaction first, making it non-atomic.
    for statement in statements:
        db.execute(statement)


def _migration(fn: Callable[[Database], None]) -> Callable[[Database], None]:
    MIGRATION_NAMES.append(fn.__name__)
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
