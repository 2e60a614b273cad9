"""The incident log behind one dedicated thread, for asyncio code.

SQLite calls block (fsync on every commit, waits on another process's write lock), so
the node runs them on a single named thread: the event loop never stalls, and the
connection is only ever used from one thread at a time. A PostgreSQL store pools its
connections and locks per origin, so it gets several threads: a console's read does not
queue behind the trucks' sync batches.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from fieldkit.config import Config
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.store import open_node_store

#: Store threads over PostgreSQL: as many as its pool has connections.
POSTGRES_THREADS = 8

P = ParamSpec("P")
T = TypeVar("T")


class LogWorker:
    """Owns the store thread(s) and the :class:`IncidentLog` used from them."""

    def __init__(self, log: IncidentLog, executor: ThreadPoolExecutor, threads: int = 1) -> None:
        self.log = log
        self._executor = executor
        # Bulk writes (foreign batches) take at most half the threads (two on SQLite: one
        # runs, one waits ready), so the thread queue never holds more than that many
        # ahead of a console's read.
        self._ingest = asyncio.Semaphore(max(2, threads // 2))

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
        threads = 1
        if store.dialect == "postgresql":
            executor.shutdown(wait=True)
            threads = POSTGRES_THREADS
            executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fieldkit-store")
        return cls(IncidentLog(store, identity, keyring,
                               max_skew_s=config.trust.max_clock_skew_s), executor, threads)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` on the store thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def ingest(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`call` for a bulk write (a batch of foreign events), a few at a time."""
        async with self._ingest:
            return await self.call(fn, *args, **kwargs)

    async def close(self) -> None:
        await self.call(self.log.store.close)
        self._executor.shutdown(wait=True)
