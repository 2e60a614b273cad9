"""The store seam: what the incident log and every part need from a database.

Two implementations: :class:`fieldkit.store.Store` (SQLite, the truck's and the default)
and :class:`fieldkit.pgstore.PgStore` (PostgreSQL, for a city HQ). Both take
``sqlite3``-style SQL with ``?`` placeholders; the PostgreSQL one rewrites it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgresql"]


class Cursor(Protocol):
    """The result of :meth:`Connection.execute`: rows as tuples."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """``sqlite3.Connection``'s execute/executemany, which both backends offer."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


class LogStore(Protocol):
    """An open store. ``conn`` reads (each statement on its own); ``write()`` is one
    atomic transaction; ``read()`` a consistent snapshot for several reads."""

    dialect: Dialect

    @property
    def conn(self) -> Connection: ...

    def write(self) -> AbstractContextManager[Connection]: ...

    def read(self) -> AbstractContextManager[Connection]:
        """Reads through ``conn`` on this thread see one snapshot until it ends (inside a
        write: the write's own view)."""

    def open_reader(self) -> None:
        """Make this thread a reader whose reads never wait for a write in progress
        (SQLite: its own WAL connection; PostgreSQL reads are pooled already)."""

    def lock_origins(self, conn: Connection, origins: Iterable[str]) -> None:
        """Inside ``write()``: hold these origins' chains until commit, so concurrent
        writers extend each chain one after the other (SQLite: its one write lock)."""

    def lock_incidents(self, conn: Connection, incidents: Iterable[str]) -> None:
        """Inside ``write()``, after :meth:`lock_origins` and before reading these
        incidents' events to fold them: hold them until commit, so two writers never fold
        one incident each without the other's events (SQLite: its one write lock)."""

    def insert_events(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Inside ``write()``: insert event rows (``EVENT_COLUMNS``' order) after every
        earlier writer's, so arrivals commit in cursor order (a stream reader never skips
        one), and wake the readers."""

    def subscribe(self, wake: Callable[[], None]) -> None:
        """Call ``wake()`` (from any thread) whenever another process commits events,
        where the database can say so (PostgreSQL's LISTEN/NOTIFY); the live feed polls
        anyway, this only makes it immediate across API workers."""

    def integrity_check(self) -> str: ...

    def close(self) -> None: ...

    def __enter__(self) -> LogStore: ...

    def __exit__(self, *exc_info: object) -> None: ...
