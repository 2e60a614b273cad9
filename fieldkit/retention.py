"""Snapshot retention: pictures the analytics attached are pruned some days after their
incident closed (``cameras.snapshot_retention_days``); the events keep their hashes and
every reader says the image expired, and when.

What expires: an ``image/*`` attachment of an incident whose source is ``analytics`` (the
cameras' and drone feeds' snapshots). What a crew attaches by hand to its own incidents is
a deliberate record and is never pruned. While an incident is open its pictures stay (the
crew needs them); the retention counts from the incident's last change once it is resolved
or closed. Content is shared (one frame goes to every incident it pictures), so a blob goes
only when every attachment naming it may go.

The expiry is a local fact, the ``expired_blobs`` table: the log stays append-only, each
node expires its own copies by its own config, and an expired blob is neither asked for
nor taken again from peers. On SQLite the freed pages are overwritten with zeros
(``secure_delete``): a pruned face does not linger in the database file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fieldkit.errors import GoneError
from fieldkit.export import iso
from fieldkit.fold import Incident
from fieldkit.hlc import wall_ms
from fieldkit.storeapi import Connection
from fieldkit.tasks import repeat
from fieldkit.view import SQL_CHUNK

if TYPE_CHECKING:
    from fieldkit.log import IncidentLog
    from fieldkit.worker import LogWorker

logger = logging.getLogger(__name__)

DAY_MS = 86_400_000
#: Seconds between retention runs (snapshots expire by days: an hour late is nothing).
EXPIRE_EVERY_S = 3600.0

# Per attachment: 1 when it may go. A LEFT JOIN: an attachment whose incident has not
# arrived yet (its `create` is still on the way) keeps its blob.
_PRUNABLE = """
SELECT b.sha256, b.mime, b.size FROM blobs b JOIN (
    SELECT json_extract(e.payload, '$.blob') AS sha,
           MIN(CASE WHEN i.source = 'analytics'
                     AND json_extract(e.payload, '$.mime') LIKE 'image/%'
                     AND i.status IN ('resolved', 'closed') AND i.updated_at < ?
                THEN 1 ELSE 0 END) AS may_go
    FROM events e LEFT JOIN incidents i ON i.id = e.incident
    WHERE e.kind = 'attach'
    GROUP BY json_extract(e.payload, '$.blob')
) a ON a.sha = b.sha256
WHERE a.may_go = 1 ORDER BY b.sha256"""


@dataclass(frozen=True, slots=True)
class ExpiryReport:
    """What :func:`expire_snapshots` pruned."""

    cutoff_ms: int
    """Incidents last changed before this (node wall clock, ms) lost their snapshots."""
    blobs: int
    """Blobs pruned."""
    size: int
    """Their bytes."""


def expire_snapshots(log: IncidentLog, retention_days: float, now_ms: int) -> ExpiryReport:
    """Prune the snapshots that ``retention_days`` lets go at ``now_ms`` (node wall clock,
    ms) and record each expiry; one transaction (run on the store thread)."""
    cutoff = now_ms - round(retention_days * DAY_MS)
    with log.store.write() as conn:
        rows = conn.execute(_PRUNABLE, [cutoff]).fetchall()
        if rows and log.store.dialect == "sqlite":
            conn.execute("PRAGMA secure_delete = ON")  # zeroes what the deletes free
        conn.executemany(
            "INSERT INTO expired_blobs (sha256, mime, size, expired_at, retention_days)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(sha, mime, size, now_ms, retention_days) for sha, mime, size in rows])
        conn.executemany("DELETE FROM blobs WHERE sha256 = ?", [(r[0],) for r in rows])
    return ExpiryReport(cutoff, len(rows), sum(int(r[2]) for r in rows))


async def expire_periodically(worker: LogWorker, retention_days: float,
                              every_s: float = EXPIRE_EVERY_S,
                              clock: Callable[[], int] = wall_ms) -> None:
    """Run :func:`expire_snapshots` now and every ``every_s`` until cancelled."""

    async def once() -> None:
        report = await worker.call(expire_snapshots, worker.log, retention_days, clock())
        if report.blobs:
            logger.info("snapshot retention: pruned %d image(s), %d bytes, of incidents "
                        "closed before %s", report.blobs, report.size, iso(report.cutoff_ms))

    await repeat(every_s, once, "snapshot retention")


def expired_at(conn: Connection, digests: Iterable[str]) -> dict[str, int]:
    """Which of ``digests`` this node pruned, and when (wall clock, ms)."""
    wanted = sorted(set(digests))
    if not wanted or conn.execute("SELECT 1 FROM expired_blobs LIMIT 1").fetchone() is None:
        return {}
    found: dict[str, int] = {}
    for i in range(0, len(wanted), SQL_CHUNK):
        chunk = wanted[i:i + SQL_CHUNK]
        found.update((str(sha), int(at)) for sha, at in conn.execute(
            f"SELECT sha256, expired_at FROM expired_blobs WHERE sha256 IN"
            f" ({','.join('?' * len(chunk))})", chunk))
    return found


def with_expiry(conn: Connection, incidents: list[Incident]) -> list[Incident]:
    """``incidents`` with each pruned attachment's ``expired_at`` set (a local fact, read
    beside the folded state, which every node computes alike)."""
    gone = expired_at(conn, (a.blob for i in incidents for a in i.attachments))
    if not gone:
        return incidents
    return [i if not any(a.blob in gone for a in i.attachments) else i.model_copy(update={
        "attachments": [a.model_copy(update={"expired_at": gone.get(a.blob)})
                        for a in i.attachments]}) for i in incidents]


def gone_error(conn: Connection, digest: str) -> GoneError | None:
    """The error that says ``digest`` expired here, or None if it never was held."""
    row = conn.execute("SELECT expired_at, retention_days FROM expired_blobs WHERE sha256 = ?",
                       [digest]).fetchone()
    if row is None:
        return None
    return GoneError(f"image {digest} expired on {iso(int(row[0]))}: snapshots are kept "
                     f"{float(row[1]):g} day(s) after their incident closes "
                     "(cameras.snapshot_retention_days on this node); its events keep the hash")
