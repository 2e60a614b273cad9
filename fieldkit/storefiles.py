"""The files beside a node's SQLite database: the lock every user of it holds, and the
crash-safe swap `fieldkit recover` uses to put a rebuilt database in place.

- ``fieldkit.db.lock``: every :class:`fieldkit.store.Store` (the node, each API worker, a
  CLI command) holds a shared ``flock`` on it while the database is open; recover takes
  it exclusively, so it refuses while anything uses the database, and nothing opens the
  database while recover runs.
- ``fieldkit.db.swap``: written (and synced) once the rebuilt database is complete and
  verified, removed when the swap is done. While it exists the database is refused at
  open; running recover again finishes the swap (every step can be repeated).

The damaged file is never deleted or overwritten: it is hard-linked to
``fieldkit.db.damaged-<UTC time>`` (with its ``-wal`` and ``-shm``) before the rebuilt
file is renamed over the database's name.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from fieldkit.errors import StoreError

logger = logging.getLogger(__name__)

SIDE_FILES = ("-wal", "-shm")


def beside(path: Path, suffix: str) -> Path:
    """``path`` with ``suffix`` appended to its file name (SQLite's naming of -wal)."""
    return path.with_name(path.name + suffix)


def shared_lock(path: Path) -> IO[bytes]:
    """Hold the database's shared lock (released when the returned file is closed);
    StoreError if `fieldkit recover` holds it, or a recover's swap was interrupted."""
    handle = _lock_file(path)
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreError(f"database {path} is being rebuilt by `fieldkit recover`: wait "
                         "for it to finish") from None
    marker = beside(path, ".swap")
    if marker.exists():
        handle.close()
        raise StoreError(f"database {path}: a `fieldkit recover` was interrupted while "
                         f"putting the rebuilt database in place ({marker} exists); run "
                         "`fieldkit recover` again to finish it")
    return handle


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold the database's lock alone for the block: StoreError naming what to do if a
    node or another command has the database open."""
    handle = _lock_file(path)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"database {path} is in use (a running node or another "
                             "fieldkit command holds it): stop the node first") from None
        yield
    finally:
        handle.close()


def _lock_file(path: Path) -> IO[bytes]:
    lock = beside(path, ".lock")
    try:
        return os.fdopen(os.open(lock, os.O_RDWR | os.O_CREAT, 0o600), "rb")
    except OSError as exc:
        raise StoreError(f"cannot open the lock file {lock}: {exc.strerror}") from exc


def discard(path: Path) -> None:
    """Remove a database recover made for itself (a copy, a half-built rebuild) and the
    files beside it; never the node's own."""
    for suffix in ("", *SIDE_FILES, ".lock"):
        beside(path, suffix).unlink(missing_ok=True)


def swap_in(path: Path, rebuilt: Path, aside: Path) -> None:
    """Put ``rebuilt`` (a complete, closed database without a -wal) at ``path``, keeping
    what was there (and its -wal/-shm) as ``aside``. Hold :func:`exclusive_lock`."""
    marker = beside(path, ".swap")
    _write_synced(marker, json.dumps({"rebuilt": rebuilt.name, "aside": aside.name}))
    finish_swap(path)


def finish_swap(path: Path) -> Path | None:
    """Complete an interrupted (or just started) swap; returns where the old database
    was kept, or None when no swap was pending. Every step may already have been done."""
    marker = beside(path, ".swap")
    if not marker.exists():
        return None
    try:
        names = json.loads(marker.read_text(encoding="utf-8"))
        rebuilt, aside = path.with_name(names["rebuilt"]), path.with_name(names["aside"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"cannot read {marker}: {exc}; the database is untouched since "
                         "it was written: move it aside and run `fieldkit recover` again"
                         ) from exc
    if rebuilt.exists():  # not yet renamed: the files at ``path`` are still the old ones
        for suffix in ("", *SIDE_FILES):
            old, kept = beside(path, suffix), beside(aside, suffix)
            if old.exists() and not kept.exists():
                os.link(old, kept)
        # A -wal left beside the new file would be replayed into it: remove the names
        # (their content stays under ``aside``).
        for suffix in SIDE_FILES:
            beside(path, suffix).unlink(missing_ok=True)
        os.replace(rebuilt, path)
        _sync_dir(path.parent)
    marker.unlink()
    _sync_dir(path.parent)
    logger.info("rebuilt database in place at %s; the old one is kept as %s", path, aside)
    return aside


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    _sync_dir(path.parent)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
