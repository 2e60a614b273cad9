"""What can still be read from a damaged SQLite database, read row by row.

A damaged page makes every query that touches it fail, so rows are read in small rowid
ranges and, where a range fails, one by one: only the rows on damaged pages are lost.
Nothing read here is trusted: events go through the normal intake (chain, hash, origin
signature) and blobs are kept only when their content matches their sha256.

The damaged file is never opened for writing: it is copied (with its ``-wal``, so
transactions committed but not yet checkpointed are seen) and the copy is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldkit.errors import EventError
from fieldkit.events import Event
from fieldkit.store import integrity
from fieldkit.storefiles import beside, discard
from fieldkit.view import EVENT_COLUMNS

logger = logging.getLogger(__name__)

#: Rows read per range query before falling back to one row at a time.
CHUNK = 256
#: Rowids probed past the last readable one when the table's end cannot be read.
PROBE_PAST = 100_000
#: No row of a table salvaged is smaller (each holds a 64-hex-digit hash or a longer JSON
#: document), so a file of N bytes holds at most N / MIN_ROW_BYTES rows.
MIN_ROW_BYTES = 64
#: Tables the fleet brings back (events and blobs by sync; the rest derive from them).
#: An event id ("origin:seq") as incident states name them.
_EVENT_ID = re.compile(r'"([A-Za-z0-9][A-Za-z0-9_-]{0,31}):([0-9]{1,18})"')
SYNCED = {"events", "blobs", "incidents", "sync_roster", "_sqlite_migrations"}


@dataclass
class Salvage:
    """What a damaged database still holds."""

    events: list[dict[str, Any]] = field(default_factory=list)
    """Readable event rows in their wire form: still to be verified by intake."""
    unreadable: int = 0
    """Event rows that could not be read or decoded."""
    read: bool = False
    """Whether the events table could be read at all (not even its schema, else)."""
    seen_seq: dict[str, int] = field(default_factory=dict)
    """Per origin, how far its chain is known to have reached here: the highest seq of a
    readable event row whose content matches its hash (signature not checked), or named
    by a readable incident's state (which names the events it was folded from)."""
    blobs: list[tuple[str, str, bytes]] = field(default_factory=list)
    """(sha256, mime, content) of blobs whose content matches their sha256."""
    roster: str | None = None
    """The fleet roster document held (HQ's signature still to be checked)."""
    local: dict[str, int | None] = field(default_factory=dict)
    """Tables that never sync, and the rows readable in each (None: unreadable)."""
    integrity: str = "missing"
    """What SQLite's integrity check says of it: "ok", a problem, or "missing"."""


def salvage(path: Path, scratch: Path) -> Salvage:
    """Check ``path`` and, if it is damaged, read what it still holds, through a copy at
    ``scratch`` (removed after)."""
    found = Salvage()
    if not path.exists():
        return found
    discard(scratch)  # a copy left by a run that was killed: its -wal must not be used
    try:
        for suffix in ("", "-wal"):
            if beside(path, suffix).exists():
                # Owner-only from the start: the copy holds callers' phone numbers too.
                os.close(os.open(beside(scratch, suffix), os.O_WRONLY | os.O_CREAT, 0o600))
                shutil.copyfile(beside(path, suffix), beside(scratch, suffix))
        conn = sqlite3.connect(scratch)
        try:
            found.integrity = integrity(conn)
            if found.integrity != "ok":
                _read(conn, found)
        finally:
            conn.close()
    except (sqlite3.Error, OSError) as exc:  # not even the first page reads
        found.integrity = str(exc)
    finally:
        discard(scratch)
    return found


def _read(conn: sqlite3.Connection, found: Salvage) -> None:
    tables = [str(r[0]) for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    if "sync_roster" in tables:
        for (document,) in _rows(conn, "sync_roster", "document", None):
            found.roster = document if isinstance(document, str) else None
    if "events" in tables:
        for row in _rows(conn, "events", EVENT_COLUMNS, found):
            _event(row, found)
        found.read = True
    if "blobs" in tables:
        for sha, mime, data in _rows(conn, "blobs", "sha256, mime, data", None):
            if isinstance(data, bytes) and isinstance(mime, str) \
                    and hashlib.sha256(data).hexdigest() == sha:
                found.blobs.append((sha, mime, data))
    if "incidents" in tables:
        for (state,) in _rows(conn, "incidents", "state", None):
            for origin, seq in _EVENT_ID.findall(state if isinstance(state, str) else ""):
                found.seen_seq[origin] = max(found.seen_seq.get(origin, 0), int(seq))
    for table in sorted(set(tables) - SYNCED):
        try:
            found.local[table] = int(conn.execute(f'SELECT count(*) FROM "{table}"')
                                     .fetchone()[0])
        except sqlite3.Error:
            found.local[table] = None


def _event(row: tuple[Any, ...], found: Salvage) -> None:
    try:
        wire = dict(zip(EVENT_COLUMNS.split(", "), (*row[:5], json.loads(row[5]), *row[6:]),
                        strict=True))
        event = Event.from_wire(wire)
    except (TypeError, ValueError, EventError):
        found.unreadable += 1
        return
    found.events.append(wire)
    # Only a row whose content matches its hash says how far a chain reached: a flipped
    # bit in seq must not claim events that never existed.
    if event.compute_hash() == event.hash:
        found.seen_seq[event.origin] = max(found.seen_seq.get(event.origin, 0), event.seq)


def _rows(conn: sqlite3.Connection, table: str, columns: str,
          found: Salvage | None) -> Iterator[tuple[Any, ...]]:
    """Every readable row of ``table`` by rowid. With ``found``, the table's rowids are
    dense (append-only, as events' arrival is): each one missing up to the last is
    counted in ``found.unreadable`` (a damaged page may fail a query, or hide its rows)."""
    select = f'SELECT rowid, {columns} FROM "{table}" WHERE rowid '
    try:
        end = int(conn.execute(f'SELECT coalesce(max(rowid), 0) FROM "{table}"')
                  .fetchone()[0])
        page_count, page_size = (int(conn.execute(f"PRAGMA {p}").fetchone()[0])
                                 for p in ("page_count", "page_size"))
    except sqlite3.Error:
        end = -1  # the table's last page is damaged: probe until rows stop
    else:
        if end > page_count * page_size // MIN_ROW_BYTES:
            # A damaged last page can answer with garbage (once 235,850,216 for 199
            # events): looking up every rowid up to it would take hours. Probe instead.
            end = -1
    start, highest, count = 1, 0, 0
    while start <= (end if end >= 0 else highest + PROBE_PAST):
        stop = start + CHUNK - 1
        try:
            rows = conn.execute(select + "BETWEEN ? AND ? ORDER BY rowid",
                                [start, stop]).fetchall()
        except sqlite3.Error:
            rows = []
        # A scan that meets a damaged page may fail, or just stop early: look up each
        # rowid it did not return on its own (a lookup takes another path down the tree).
        got = {row[0] for row in rows}
        for rowid in range(start, min(stop, end) + 1 if end >= 0 else stop + 1):
            if rowid not in got:
                with contextlib.suppress(sqlite3.Error):
                    rows += conn.execute(select + "= ?", [rowid]).fetchall()
        rows.sort(key=lambda row: int(row[0]))
        for row in rows:
            highest, count = max(highest, int(row[0])), count + 1
            yield row[1:]
        start = stop + 1
    if found is not None:
        found.unreadable += max(end, highest) - count
