"""The materialised ``incidents`` table: rows folded from the events table.

The view is a cache. It can always be rebuilt from the events (:func:`rebuild_view`),
and it is refolded for every incident an event batch touches, inside the same
transaction as the batch.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any

from fieldkit.events import Event, canonical_json
from fieldkit.fold import fold
from fieldkit.storeapi import Connection

EVENT_COLUMNS = "origin, seq, hlc, incident, kind, payload, prev, hash, sig"
SQL_CHUNK = 500
"""Values per ``IN (...)`` lookup, well under SQLite's variable limit."""


_VIEW_COLUMNS = ("id, title, kind, severity, status, source, reported_by, zone, camera, lat, lon,"
                 " created_at, updated_at, conflicts, state")
_VIEW_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in _VIEW_COLUMNS.split(", ")[1:])


def row_to_event(row: tuple[Any, ...]) -> Event:
    origin, seq, hlc, incident, kind, payload, prev, digest, sig = row
    return Event(origin, seq, hlc, incident, kind, json.loads(payload), prev, digest, sig)


def event_to_row(e: Event) -> tuple[Any, ...]:
    return (e.origin, e.seq, e.hlc, e.incident, e.kind, canonical_json(e.payload),
            e.prev, e.hash, e.sig)


def refold(conn: Connection, incident_ids: Iterable[str], pending: Iterable[Event] = ()) -> None:
    """Recompute the view rows of these incidents from their events, and from ``pending``
    (events of theirs this transaction has not inserted yet, so a PostgreSQL writer folds
    before it takes the arrival lock and holds that lock only to insert and commit)."""
    ids = sorted(set(incident_ids))
    events: dict[str, list[Event]] = {i: [] for i in ids}
    for e in pending:
        events[e.incident].append(e)
    for start in range(0, len(ids), SQL_CHUNK):  # one query per chunk, not per incident
        chunk = ids[start:start + SQL_CHUNK]
        for e in _events(conn.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE incident"
                                      f" IN ({','.join('?' * len(chunk))})", chunk)):
            events[e.incident].append(e)
    states = {i: fold(events[i]) for i in ids}
    gone = [[i] for i, state in states.items() if state is None]
    if gone:  # events arrived before the `create` that names the incident
        conn.executemany("DELETE FROM incidents WHERE id = ?", gone)
    rows = [_view_row(state) for state in states.values() if state is not None]
    if rows:
        conn.executemany(_UPSERT, rows)


def rebuild_view(conn: Connection) -> int:
    """Drop every view row and fold all incidents again. Returns the number of incidents."""
    conn.execute("DELETE FROM incidents")
    rows = conn.execute(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY incident")
    count = 0
    for _, group in itertools.groupby(_events(rows), key=lambda e: e.incident):
        state = fold(group)
        if state is not None:
            conn.execute(_UPSERT, _view_row(state))
            count += 1
    return count


def _events(rows: Iterable[tuple[Any, ...]]) -> Iterator[Event]:
    return (row_to_event(r) for r in rows)


_UPSERT = (f"INSERT INTO incidents ({_VIEW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
           f" ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET {_VIEW_UPDATE}")


def _view_row(state: dict[str, Any]) -> list[Any]:
    loc = state["location"] or {}
    return [state["id"], state["title"], state["kind"], state["severity"], state["status"],
            state["source"], state["reported_by"], loc.get("zone"), loc.get("camera"),
            loc.get("lat"), loc.get("lon"), state["created_at"], state["updated_at"],
            len(state["conflicts"]), canonical_json(state)]
