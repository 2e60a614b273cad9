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


def incident_events(conn: Connection, incident_id: str) -> list[Event]:
    rows = conn.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE incident = ?", [incident_id])
    return [row_to_event(r) for r in rows]


def refold(conn: Connection, incident_ids: Iterable[str]) -> None:
    """Recompute the view rows of these incidents from their events."""
    for incident_id in incident_ids:
        _store_state(conn, incident_id, fold(incident_events(conn, incident_id)))


def rebuild_view(conn: Connection) -> int:
    """Drop every view row and fold all incidents again. Returns the number of incidents."""
    conn.execute("DELETE FROM incidents")
    rows = conn.execute(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY incident")
    count = 0
    for incident_id, group in itertools.groupby(_events(rows), key=lambda e: e.incident):
        state = fold(group)
        if state is not None:
            _store_state(conn, incident_id, state)
            count += 1
    return count


def _events(rows: Iterable[tuple[Any, ...]]) -> Iterator[Event]:
    return (row_to_event(r) for r in rows)


def _store_state(conn: Connection, incident_id: str, state: dict[str, Any] | None) -> None:
    if state is None:  # events arrived before the `create` that names the incident
        conn.execute("DELETE FROM incidents WHERE id = ?", [incident_id])
        return
    loc = state["location"] or {}
    conn.execute(
        f"INSERT INTO incidents ({_VIEW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
        f" ?, ?, ?) ON CONFLICT (id) DO UPDATE SET {_VIEW_UPDATE}",
        [state["id"], state["title"], state["kind"], state["severity"], state["status"],
         state["source"], state["reported_by"], loc.get("zone"), loc.get("camera"),
         loc.get("lat"), loc.get("lon"), state["created_at"], state["updated_at"],
         len(state["conflicts"]), canonical_json(state)],
    )
