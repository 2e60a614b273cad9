"""The node's SQLite store: one file, WAL, synchronous=FULL, versioned migrations.

Writes go through :meth:`Store.write`, which nests: the outermost call is one
``BEGIN IMMEDIATE``/``COMMIT`` transaction, calls inside it are SAVEPOINTs (as
sqlite-utils' ``atomic()`` does), so a part can open one write around several incident
log calls and have them commit together or not at all. PostgreSQL nests the same way
(``SAVEPOINT``/``RELEASE``/``ROLLBACK TO``), which is what another backend implements.

Reads need not wait for writes: a thread that calls :meth:`Store.open_reader` gets its own
connection, a WAL reader that sees every committed transaction and never waits for the
writer (the node runs its API reads on such threads, :mod:`fieldkit.worker`); several
statements that must agree (health's counts and cursor) run in one :meth:`Store.read`
snapshot.

Opening a database migrates it forward (each migration in its own transaction, recorded
by sqlite-utils in ``_sqlite_migrations``). A database that records migrations this
version does not know was written by a newer fieldkit: it is refused before anything is
written to it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from fieldkit.config import Config
from fieldkit.errors import SchemaTooNewError, StoreError
from fieldkit.schema import MIGRATION_NAMES, MIGRATIONS
from fieldkit.storeapi import Connection, Dialect, LogStore
from fieldkit.storefiles import shared_lock
from fieldkit.view import EVENT_COLUMNS

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


class Store:
    """An open fieldkit database. Use as a context manager, or call :meth:`close`.

    :param path: the SQLite file; created when missing.
    """

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = shared_lock(path)  # refused while `fieldkit recover` rebuilds it
        try:
            self.db = self._open(path)
        except BaseException:
            self._lock.close()
            raise
        self._main: sqlite3.Connection = self.db.conn
        self._writer: int | None = None  # the thread inside write(), if any
        self._depth = 0  # savepoints open inside it
        self._local = threading.local()  # .conn: a reader thread's own connection
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection reads go through: this thread's own if it is a reader thread
        (:meth:`open_reader`) and not writing, else the writer's."""
        reader: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if reader is None or self._writer == threading.get_ident():
            return self._main
        return reader

    def open_reader(self) -> None:
        """Give this thread its own read-only connection (e.g. an executor's
        ``initializer``): in WAL mode its reads never wait for a write in progress."""
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA query_only=ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.path} for reading: {exc}") from exc
        with self._readers_lock:
            self._readers.append(conn)
        self._local.conn = conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Several reads that see one snapshot (nothing committed between them); inside
        a write or another read, that one's."""
        conn = self.conn
        if conn.in_transaction:
            yield conn
            return
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc
        try:
            yield conn
        finally:
            conn.execute("COMMIT")  # a read-only transaction: this only ends the snapshot

    @staticmethod
    def _open(path: Path) -> sqlite_utils.Database:
        if path.exists():
            check_schema_known(path)
        try:
            _make_private(path)
            # isolation_level=None: transactions are explicit (see write()), never implicit.
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before it is acknowledged, even across power loss.
            conn.execute("PRAGMA synchronous=FULL")
            db = sqlite_utils.Database(conn, execute_plugins=False)
            pending = [m.name for m in MIGRATIONS.pending(db)]
            if pending:
                logger.info("migrating %s: %s", path, ", ".join(pending))
                MIGRATIONS.apply(db)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot open database {path}: {exc.strerror}") from exc
        return db

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in (*readers, self._main):
            conn.close()
        self._lock.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction; a write opened inside another one (on the same
        thread) is a savepoint of it.

        BEGIN IMMEDIATE takes the write lock up front, so two processes (the node and
        the CLI) wait for each other instead of failing when a read turns into a write.
        An error inside a nested write undoes only that write (the caller may catch it
        and go on); the outermost write commits everything, or nothing.
        """
        if self._writer is not None:
            if self._writer != threading.get_ident():
                raise StoreError(f"cannot write to {self.path}: another thread is writing")
            with self._savepoint():
                yield self._main
            return
        try:
            self._main.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to {self.path}: {exc}") from exc
        self._writer = threading.get_ident()
        try:
            yield self._main
        except sqlite3.Error as exc:
            self._main.rollback()
            raise StoreError(f"write to {self.path} failed: {exc}") from exc
        except BaseException:
            self._main.rollback()
            raise
        finally:
            self._writer = None
        try:
            self._main.execute("COMMIT")
        except sqlite3.Error as exc:
            self._main.rollback()
            raise StoreError(f"commit to {self.path} failed: {exc}") from exc

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        self._depth += 1
        name = f"fieldkit_{self._depth}"
        try:
            self._main.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                # An error may already have ended the whole transaction (SQLite does on
                # some I/O errors): then there is no savepoint left to roll back to.
                if self._main.in_transaction:
                    self._main.execute(f"ROLLBACK TO {name}")
                    self._main.execute(f"RELEASE {name}")
                raise
            self._main.execute(f"RELEASE {name}")
        except sqlite3.Error as exc:
            raise StoreError(f"write to {self.path} failed: {exc}") from exc
        finally:
            self._depth -= 1

    def lock_origins(self, conn: Connection, origins: Iterable[str]) -> None:
        """Nothing to do: BEGIN IMMEDIATE already holds the one write lock."""

    def lock_incidents(self, conn: Connection, incidents: Iterable[str]) -> None:
        """Nothing to do: BEGIN IMMEDIATE already holds the one write lock."""

    def insert_events(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        # One writer at a time: arrivals commit in order by themselves.
        conn.executemany(f"INSERT INTO events ({EVENT_COLUMNS}) VALUES"
                         f" ({', '.join('?' * len(EVENT_COLUMNS.split(', ')))})", rows)

    def subscribe(self, wake: Callable[[], None]) -> None:
        """Nothing to do: SQLite cannot notify; the feed polls the arrival cursor."""

    def integrity_check(self) -> str:
        """"ok", or the first problem SQLite finds (a page it cannot read at all too)."""
        return integrity(self._main)


def integrity(conn: sqlite3.Connection) -> str:
    """"ok", or the first problem SQLite's integrity check finds in ``conn``'s database."""
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        return str(exc)


def _make_private(path: Path) -> None:
    """The database holds callers' phone numbers and every blob: owner-only (0600).

    SQLite creates ``-wal`` and ``-shm`` with the database file's mode, so creating the
    file 0600 first covers them; files left more open by an older version are tightened.
    """
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
        if file.exists() and file.stat().st_mode & 0o077:
            logger.warning("%s was readable by other users: made it 0600", file)
            file.chmod(0o600)


def open_node_store(config: Config) -> LogStore:
    """The store ``config`` names: store.url (PostgreSQL) if set, else node.database."""
    return open_store(config.store.url or config.path(config.node.database))


def open_store(location: str | Path) -> LogStore:
    """The store at ``location``: a ``postgresql://`` URL, else an SQLite file path."""
    if isinstance(location, str) and location.startswith(("postgresql://", "postgres://")):
        from fieldkit.pgstore import PgStore  # psycopg loads only where it is used

        return PgStore(location)
    return Store(Path(location))


def check_schema_known(path: Path) -> None:
    """Refuse a database that holds migrations unknown to this version, without writing."""
    known = set(MIGRATION_NAMES)
    try:
        # Without a -wal file the database file is complete: read it as immutable, which
        # creates no -wal/-shm beside it. With one, a plain read-only open sees the WAL.
        wal = path.with_name(path.name + "-wal")
        mode = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
        ro = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
        try:
            tables = {r[0] for r in ro.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            applied = set()
            if MIGRATIONS.migrations_table in tables:
                applied = {r[0] for r in ro.execute(
                    f"SELECT name FROM {MIGRATIONS.migrations_table} WHERE migration_set = ?",
                    [MIGRATIONS.name])}
        finally:
            ro.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from exc
    unknown = sorted(applied - known)
    if unknown:
        raise SchemaTooNewError(
            f"database {path} was written by a newer fieldkit (unknown migrations: "
            f"{', '.join(unknown)}); it was left untouched: upgrade fieldkit on this node"
        )
