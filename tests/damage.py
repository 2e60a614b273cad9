"""Damaging a real SQLite database file as a bad sector or a torn write would."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def damage_a_page(path: Path, table: str = "incidents", last: bool = False) -> int:
    """Overwrite 32 bytes of a leaf page of ``table`` (its first, or its ``last``, found
    with SQLite's dbstat table); returns the page number. The database must have been
    checkpointed (closed by its last user)."""
    conn = sqlite3.connect(path)
    try:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = [r[0] for r in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
            [table])]
    finally:
        conn.close()
    page = pages[-1] if last else pages[0]
    data = bytearray(path.read_bytes())
    at = (page - 1) * size + 8
    data[at:at + 32] = b"\xff" * 32
    path.write_bytes(bytes(data))
    return int(page)
