"""The incident log behind dedicated threads, for asyncio code.

SQLite calls block (fsync on every commit, waits on another process's write lock), so
the node runs them off the event loop: writes (and whatever a part runs through
:meth:`LogWorker.call`) on one named thread, whose connection is only ever used from it;
the API's reads (:meth:`LogWorker.read`) on a few reader threads, each with its own WAL
connection, so a console's read never queues behind writes, their fsyncs or each other.
A PostgreSQL store pools its connections and locks per origin, so it gets several
threads for both: a console's read does not queue behind the trucks' sync batches.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from fieldkit.config import Config
from fieldkit.errors import StoreError
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.store import open_node_store

logger = logging.getLogger(__name__)

#: Store threads over PostgreSQL: as many as its pool has connections.
POSTGRES_THREADS = 8
#: Reader threads over SQLite (WAL readers never wait for the writer, nor each other).
SQLITE_READERS = 3
#: Seconds between integrity checks of a running node's store (one also runs at start).
INTEGRITY_INTERVAL_S = 600.0

P = ParamSpec("P")
T = TypeVar("T")


class LogWorker:
    """Owns the store thread(s) and the :class:`IncidentLog` used from them."""

    def __init__(self, log: IncidentLog, executor: ThreadPoolExecutor, threads: int = 1,
                 where: str = "", reads: ThreadPoolExecutor | None = None,
                 readers: int = 0) -> None:
        """``reads``/``readers``: the reader threads and how many (default: reads share
        the ``threads`` store threads)."""
        self.log = log
        self._executor = executor
        self._reads = reads or executor
        self.where = where or "the store"
        self.integrity = "ok"
        """What the last integrity check found (or a read that hit a damaged page)."""
        # Bulk writes (foreign batches) take at most half the threads (two on SQLite: one
        # runs, one waits ready), so the thread queue never holds more than that many
        # ahead of a console's read.
        self._ingest = asyncio.Semaphore(max(2, threads // 2))
        # Bulk reads (live streams catching up from far behind, possibly hundreds at
        # once) leave a reader thread free for a console's read: one at a time over
        # SQLite's three readers; over PostgreSQL's shared threads, fewer than ingest
        # leaves free.
        self._bulk_reads = asyncio.Semaphore(max(1, ((readers or threads) - 1) // 2))

    @classmethod
    async def open(cls, config: Config) -> LogWorker:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldkit-store")
        loop = asyncio.get_running_loop()
        try:
            identity = NodeIdentity.load(config.node.name, config.path(config.node.key_file))
            keyring = Keyring.from_names(identity, config.trust.nodes)
            store = await loop.run_in_executor(executor, open_node_store, config)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        where = "database " + ((config.store.url and "store.url")
                               or str(config.path(config.node.database)))
        problem = await loop.run_in_executor(executor, store.integrity_check)
        if problem != "ok":
            await loop.run_in_executor(executor, store.close)
            executor.shutdown(wait=False)
            raise StoreError(damaged(where, problem))
        threads, reads, readers = 1, None, 0
        if store.dialect == "postgresql":
            executor.shutdown(wait=True)
            threads = POSTGRES_THREADS
            executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fieldkit-store")
        else:
            readers = SQLITE_READERS
            reads = ThreadPoolExecutor(max_workers=readers, initializer=store.open_reader,
                                       thread_name_prefix="fieldkit-read")
        return cls(IncidentLog(store, identity, keyring,
                               max_skew_s=config.trust.max_clock_skew_s), executor, threads,
                   where, reads, readers)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` on the store thread. A read that meets a damaged
        page raises StoreError saying so (not a bare sqlite3 error: a 500)."""
        return await self._run(self._executor, functools.partial(fn, *args, **kwargs))

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`call` for ``fn`` that only reads through ``log.store.conn`` (or
        ``read()``): on a reader thread, so it waits for no write and no other read."""
        return await self._run(self._reads, functools.partial(fn, *args, **kwargs))

    async def read_bulk(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`read` for a read that may come many at once, a few at a time."""
        async with self._bulk_reads:
            return await self.read(fn, *args, **kwargs)

    async def _run(self, executor: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, fn)
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:  # subclasses: not damage
                raise
            self.integrity = str(exc)
            raise StoreError(damaged(self.where, str(exc))) from exc

    async def check_integrity(self) -> str:
        """Run the store's integrity check now; the result is kept in :attr:`integrity`."""
        problem = await self.call(self.log.store.integrity_check)
        if problem != "ok" and problem != self.integrity:
            logger.error("%s", damaged(self.where, problem))
        self.integrity = problem
        return problem

    async def check_periodically(self, interval_s: float = INTEGRITY_INTERVAL_S) -> None:
        """Check the store every ``interval_s`` until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            await self.check_integrity()

    async def ingest(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`call` for a bulk write (a batch of foreign events), a few at a time."""
        async with self._ingest:
            return await self.call(fn, *args, **kwargs)

    async def close(self) -> None:
        if self._reads is not self._executor:
            # Off the loop: a reader thread may still be finishing a read.
            await asyncio.to_thread(self._reads.shutdown, wait=True)
        await self.call(self.log.store.close)
        self._executor.shutdown(wait=True)


def damaged(where: str, problem: str) -> str:
    """What a crew is told about a damaged store, and what to do."""
    return (f"{where} is damaged ({problem[:200]}); fieldkit will not use it. Stop the "
            "node and run `fieldkit recover --from HQ` (or `--bundle FILE`, exported by HQ "
            "or another truck): it rebuilds the database from the fleet, verified, and "
            "keeps the damaged file")
