"""Background jobs run once per database, however many processes serve its API.

A part declares two kinds of work (:class:`fieldkit.parts.Part`): what serves requests
(routes, the live stream) runs in every API worker; its background jobs (the sync
scheduler, the CoT sender, MQTT subscriptions, hardware probes, camera pipelines, the
periodic integrity check) must run once, or every alert goes out N times and every
reading is taken N times.

On SQLite there is one process: the jobs simply run. On PostgreSQL the jobs run in
whichever process holds one session-level advisory lock: every process tries to take it
(:data:`TRY_EVERY_S`), the holder runs the jobs and checks its lock connection as often.
A holder that dies (SIGKILL, power) loses its session, PostgreSQL frees the lock, and the
next process to try takes the role over. The lock lives in the database, not in the
supervisor of ``--workers``, so the rule also holds for several HQ machines on one
database, and for a supervisor that itself died. A holder whose lock connection breaks
(the database restarted, the link cut) stops its jobs before trying again: another
process may hold the lock by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aiohttp import web

from fieldkit.tasks import cancel_and_wait

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

T = TypeVar("T")

Job = Callable[[web.Application], AbstractAsyncContextManager[None]]
"""One background job: entered when its process takes the role, exited when it loses it
or stops (an ``@contextlib.asynccontextmanager`` over the node's running app)."""

TRY_EVERY_S = 1.0
"""How often a process without the role tries to take it, and the holder checks it still
holds it: a dead holder's jobs resume within about this long."""

LOCK_KEY = int.from_bytes(hashlib.sha256(b"fieldkit background jobs").digest()[:8], "big",
                          signed=True)
"""The advisory lock's key (64-bit, fixed): one role per database."""


class BackgroundRole:
    """Runs ``jobs`` (in order; they stop in reverse) while this process holds the role.

    :param store_url: the PostgreSQL store's URL; None (SQLite): one process, the jobs run
        from :meth:`start` to :meth:`stop`.
    """

    def __init__(self, app: web.Application, jobs: Sequence[Job],
                 store_url: str | None) -> None:
        self._app = app
        self._jobs = tuple(jobs)
        self._url = store_url
        self._running: AsyncExitStack | None = None
        self._task: asyncio.Task[None] | None = None
        self.holder = f"{os.getpid()}@{socket.gethostname()}"
        """Who this process is in the log and in ``pg_stat_activity.application_name``."""

    @property
    def held(self) -> bool:
        """Whether this process runs the background jobs now."""
        return self._running is not None

    async def start(self) -> None:
        if self._url is None:
            await self._enter()
        elif self._jobs:
            self._task = asyncio.create_task(self._hold(self._url), name="fieldkit-role")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        await self._exit()

    async def _enter(self) -> None:
        stack = AsyncExitStack()
        try:
            for job in self._jobs:
                await stack.enter_async_context(job(self._app))
        except BaseException:
            await stack.aclose()
            raise
        self._running = stack

    async def _exit(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            await running.aclose()

    async def _hold(self, url: str) -> None:
        """Take the role when free, run the jobs while held, forever (until cancelled)."""
        import psycopg  # only a PostgreSQL node needs it

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        url, autocommit=True,
                        application_name=f"fieldkit jobs {self.holder}") as conn:
                    await self._wait_for_lock(conn)
                    logger.info("background jobs: %s takes the role (%s)", self.holder,
                                ", ".join(getattr(j, "__name__", "?") for j in self._jobs))
                    await self._enter()
                    while True:  # the lock is held as long as this session lives
                        await asyncio.sleep(TRY_EVERY_S)
                        await conn.execute("SELECT 1")
            except (psycopg.Error, OSError) as exc:
                if self.held:
                    logger.warning("background jobs: %s lost its lock connection (%s); "
                                   "stopping them until it holds the role again",
                                   self.holder, type(exc).__name__)
                else:
                    logger.warning("background jobs: cannot reach the database to take the "
                                   "role (%s); trying again", type(exc).__name__)
            except Exception as exc:  # a job that cannot start: free the role for another
                logger.error("background jobs: cannot start in %s: %s", self.holder, exc)
            finally:
                with contextlib.suppress(Exception):
                    await self._exit()
            await asyncio.sleep(TRY_EVERY_S)

    @staticmethod
    async def _wait_for_lock(conn: psycopg.AsyncConnection[Any]) -> None:
        while True:
            cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
            row = await cursor.fetchone()
            if row is not None and row[0]:
                return
            await asyncio.sleep(TRY_EVERY_S)

class Slot(Generic[T]):
    """What a background job runs, for the routes of every process: filled only in the
    process running the job. A route reading it elsewhere is refused (503) rather than
    answered empty, which would say nothing runs."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.value: T | None = None

    def get(self) -> T:
        if self.value is None:
            raise elsewhere(self.what)
        return self.value


def elsewhere(what: str) -> web.HTTPServiceUnavailable:
    """The 503 for a request about a background job that does not run in this process."""
    return web.HTTPServiceUnavailable(reason=(
        f"{what} runs in the process that holds this node's background role, not in this "
        "one (the node runs several API processes, or it is starting)"))


def install_role(app: web.Application, jobs: Sequence[Job], store_url: str | None) -> None:
    """Run ``jobs`` once per database, after every part's context started (they use the
    parts' state) and stopped before them."""
    role = BackgroundRole(app, jobs, store_url)

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await role.start()
        yield
        await role.stop()

    app.cleanup_ctx.append(ctx)
