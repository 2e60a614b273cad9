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

    def __init__(self, log: IncidentLog, executor: ThreadPoolExecutor) -> None:
        self.log = log
        self._executor = executor

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
        if store.dialect == "postgresql":
            executor.shutdown(wait=True)
            executor = ThreadPoolExecutor(max_workers=POSTGRES_THREADS,
                                          thread_name_prefix="fieldkit-store")
        return cls(IncidentLog(store, identity, keyring), executor)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` on the store thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def close(self) -> None:
        await self.call(self.log.store.close)
        self._executor.shutdown(wait=True)
