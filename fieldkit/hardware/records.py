"""Stored truck positions, and retention of samples.

Samples (the truck's positions, drone telemetry) are measurements: old ones may be pruned
when the disk fills. Events are the record: retention never touches them (the events
table refuses deletes anyway, see migration m001).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fieldkit.hardware.gpsd import Fix
from fieldkit.log import IncidentLog

#: (table, time column) of every sample table retention may prune.
SAMPLE_TABLES = (("truck_positions", "at_ms"), ("drone_samples", "at_ms"),
                 ("sensor_readings", "at_ms"), ("zone_metrics", "end_ms"))
_POSITION_COLUMNS = ("at_ms", "gps_time", "lat", "lon", "alt_m", "speed_ms", "track_deg",
                     "eph_m", "mode")


def record_position(log: IncidentLog, fix: Fix) -> None:
    """Store one position sample (run on the store thread)."""
    with log.store.write() as conn:
        conn.execute(
            f"INSERT INTO truck_positions ({', '.join(_POSITION_COLUMNS)})"
            f" VALUES ({', '.join('?' * len(_POSITION_COLUMNS))})",
            [fix.received_ms, fix.gps_time, fix.lat, fix.lon, fix.alt_m, fix.speed_ms,
             fix.track_deg, fix.eph_m, fix.mode])


def recent_positions(log: IncidentLog, limit: int = 100) -> list[dict[str, Any]]:
    """The latest stored samples, newest first."""
    rows = log.store.conn.execute(
        f"SELECT {', '.join(_POSITION_COLUMNS)} FROM truck_positions"
        " ORDER BY at_ms DESC, id DESC LIMIT ?", [limit])
    return [dict(zip(_POSITION_COLUMNS, row, strict=True)) for row in rows]


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What :func:`prune_samples` removed."""

    cutoff_ms: int
    """Samples taken before this (node wall clock, ms) were removed."""
    removed: dict[str, int]
    """Rows removed per table."""


def prune_samples(log: IncidentLog, cutoff_ms: int) -> PruneReport:
    """Delete samples older than ``cutoff_ms`` from every sample table present."""
    removed: dict[str, int] = {}
    with log.store.write() as conn:
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for table, column in SAMPLE_TABLES:
            if table in present:
                cur = conn.execute(f"DELETE FROM {table} WHERE {column} < ?", [cutoff_ms])
                removed[table] = cur.rowcount
    return PruneReport(cutoff_ms, removed)
