"""What this node knows of each peer (the ``sync_peers`` table): last contact, last error,
the peer's version vector at that contact, and totals, for `fieldkit sync status` and
`fieldkit sync export --for PEER`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fieldkit.hlc import to_wall_ms, wall_ms
from fieldkit.log import IncidentLog
from sync.protocol import parse_vector


@dataclass
class PeerRecord:
    """One row of ``sync_peers``."""

    name: str
    url: str | None = None
    last_attempt: int | None = None
    """Wall-clock ms of the last session tried."""
    last_contact: int | None = None
    """Wall-clock ms of the last session that completed (either side starting it)."""
    last_error: str | None = None
    vector: dict[str, int] = field(default_factory=dict)
    """The peer's version vector as of the last contact."""
    sent: int = 0
    received: int = 0
    failures: int = 0
    """Consecutive failed sessions."""


_COLUMNS = "name, url, last_attempt, last_contact, last_error, vector, sent, received, failures"


def _record(row: tuple[Any, ...]) -> PeerRecord:
    name, url, attempt, contact, error, vector, sent, received, failures = row
    return PeerRecord(name, url, attempt, contact, error, parse_vector(json.loads(vector)),
                      sent, received, failures)


def peer_records(log: IncidentLog) -> dict[str, PeerRecord]:
    rows = log.store.conn.execute(f"SELECT {_COLUMNS} FROM sync_peers ORDER BY name")
    return {r[0]: _record(r) for r in rows}


def peer_record(log: IncidentLog, name: str) -> PeerRecord | None:
    row = log.store.conn.execute(f"SELECT {_COLUMNS} FROM sync_peers WHERE name = ?",
                                 [name]).fetchone()
    return _record(row) if row else None


def record_contact(log: IncidentLog, name: str, url: str | None, vector: dict[str, int],
                   sent: int = 0, received: int = 0) -> None:
    now = wall_ms()
    with log.store.write() as conn:
        conn.execute(
            "INSERT INTO sync_peers (name, url, last_attempt, last_contact, vector, sent,"
            " received) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
            " url = coalesce(excluded.url, url), last_attempt = excluded.last_attempt,"
            " last_contact = excluded.last_contact, last_error = NULL,"
            " vector = excluded.vector, sent = sent + excluded.sent,"
            " received = received + excluded.received, failures = 0",
            [name, url, now, now, json.dumps(vector, sort_keys=True), sent, received])


def record_received(log: IncidentLog, name: str, count: int) -> None:
    """The peer pushed ``count`` new events to us (its vector is not known from a push)."""
    now = wall_ms()
    with log.store.write() as conn:
        conn.execute(
            "INSERT INTO sync_peers (name, last_contact, received) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET last_contact = excluded.last_contact,"
            " received = received + excluded.received, last_error = NULL, failures = 0",
            [name, now, count])


def record_failure(log: IncidentLog, name: str, url: str | None, error: str) -> None:
    now = wall_ms()
    with log.store.write() as conn:
        conn.execute(
            "INSERT INTO sync_peers (name, url, last_attempt, last_error, failures)"
            " VALUES (?, ?, ?, ?, 1) ON CONFLICT (name) DO UPDATE SET"
            " url = coalesce(excluded.url, url), last_attempt = excluded.last_attempt,"
            " last_error = excluded.last_error, failures = failures + 1",
            [name, url, now, error[:500]])


def oldest_pending_ms(log: IncidentLog, theirs: dict[str, int], origins: list[str]) -> int | None:
    """Wall-clock ms of the oldest event held here (of ``origins``) that ``theirs`` lacks."""
    oldest: int | None = None
    for origin in origins:
        first = log.events_after(origin, theirs.get(origin, 0), 1)
        if first:
            t = to_wall_ms(first[0].hlc)
            oldest = t if oldest is None else min(oldest, t)
    return oldest


def age_s(ms: int | None) -> float | None:
    return None if ms is None else max(0.0, (wall_ms() - ms) / 1000)
