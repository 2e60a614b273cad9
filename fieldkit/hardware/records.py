"""Stored truck positions, and retention of samples.

Samples (the truck's positions, drone telemetry, sensor readings, camera zone windows) are
measurements: ones older than ``hardware.retention_days`` are pruned once an hour on every
node, and at half that age at once when the disk fills (:mod:`fieldkit.hardware.health`).
Events are the record: retention never touches them (the events table refuses deletes
anyway, see migration m001).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fieldkit.hardware.gpsd import Fix
from fieldkit.hlc import wall_ms
from fieldkit.log import IncidentLog

if TYPE_CHECKING:
    from fieldkit.worker import LogWorker

logger = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0
"""Seconds between retention runs (samples expire by days: an hour late is nothing)."""
DAY_MS = 86_400_000

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
    """Delete samples older than ``cutoff_ms`` from every sample table (the store's
    migrations made them all, on SQLite and PostgreSQL alike)."""
    removed: dict[str, int] = {}
    with log.store.write() as conn:
        for table, column in SAMPLE_TABLES:
            cur = conn.execute(f"DELETE FROM {table} WHERE {column} < ?", [cutoff_ms])
            removed[table] = cur.rowcount
    return PruneReport(cutoff_ms, removed)


async def prune_older_than(worker: LogWorker, days: float) -> PruneReport:
    """Prune the samples older than ``days`` (node wall clock) on the store thread."""
    report = await worker.call(prune_samples, worker.log, wall_ms() - round(days * DAY_MS))
    if any(report.removed.values()):
        logger.info("retention: removed %s", report.removed)
    return report
