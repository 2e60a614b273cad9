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

A route about a job's live state (``/api/drones``, ``/api/sensors``, ...) reaches whichever
process the kernel gave the connection to. A process without the role forwards it to the
holder: every process on PostgreSQL also listens on a private loopback port, the holder
names it in its lock session's ``application_name``, and the others read it from
``pg_locks`` when they try the lock. The forwarded request keeps its headers (the holder
checks token, Host and origin as for any request) and is marked, so it is never forwarded
twice; a holder on another machine, or none yet, still gets the 503 that says so.
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

import aiohttp
from aiohttp import web

from fieldkit.apiguard import Handler
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

FORWARDED = "X-Fieldkit-Forwarded"
"""Marks a request one process forwarded to the role's holder (never forwarded again)."""

_HOLDER_QUERY = """
    SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = %s
      AND l.objid::bigint = %s AND l.objsubid = 1"""
"""The session holding :data:`LOCK_KEY` (a bigint key shows as its high and low halves)."""


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
        self.private_port: int | None = None
        """This process's private loopback port (set by the node once it listens)."""
        self.holder_port: int | None = None
        """Another process holds the role and listens on this loopback port, on this
        machine (read each time the lock is tried; None: unknown or elsewhere)."""

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
                        application_name=self._session_name(None)) as conn:
                    await self._wait_for_lock(conn)
                    self.holder_port = None
                    logger.info("background jobs: %s takes the role (%s)", self.holder,
                                ", ".join(getattr(j, "__name__", "?") for j in self._jobs))
                    await self._enter()
                    named: int | None = None
                    while True:  # the lock is held as long as this session lives
                        if named != self.private_port:
                            named = self.private_port
                            await conn.execute("SELECT set_config('application_name', %s, "
                                               "false)", (self._session_name(named),))
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

    def _session_name(self, port: int | None) -> str:
        """``fieldkit jobs PID@HOST port N``, as PostgreSQL keeps it (63 bytes)."""
        port_text = f" port {port}" if port is not None else ""
        return f"fieldkit jobs {self.holder}"[:63 - len(port_text)] + port_text

    async def _wait_for_lock(self, conn: psycopg.AsyncConnection[Any]) -> None:
        while True:
            cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
            row = await cursor.fetchone()
            if row is not None and row[0]:
                return
            cursor = await conn.execute(_HOLDER_QUERY, ((LOCK_KEY >> 32) & 0xFFFFFFFF,
                                                        LOCK_KEY & 0xFFFFFFFF))
            found = await cursor.fetchone()
            self.holder_port = self._port_on_this_machine(str(found[0]) if found else "")
            await asyncio.sleep(TRY_EVERY_S)

    @staticmethod
    def _port_on_this_machine(name: str) -> int | None:
        """The private port in a holder's session name, when it runs on this machine."""
        head, _, port = name.rpartition(" port ")
        host = head.rpartition("@")[2]
        return int(port) if port.isdigit() and host == socket.gethostname()[:len(host)] \
            and host else None

    async def forward(self, request: web.Request, http: aiohttp.ClientSession
                      ) -> web.Response | None:
        """``request`` answered by the holder (None: no holder to ask on this machine, or
        the request was forwarded once already)."""
        port = self.holder_port
        if port is None or FORWARDED in request.headers or self.held:
            return None
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("content-length", "transfer-encoding", "connection")}
        headers[FORWARDED] = "1"
        try:
            async with http.request(request.method, f"http://127.0.0.1:{port}{request.path_qs}",
                                    headers=headers, data=await request.read(),
                                    allow_redirects=False) as answer:
                body = await answer.read()
                return web.Response(status=answer.status, body=body,
                                    content_type=answer.content_type)
        except (TimeoutError, aiohttp.ClientError) as exc:
            logger.warning("background jobs: the holder on port %d did not answer %s %s "
                           "(%s)", port, request.method, request.path, type(exc).__name__)
            return None


ROLE = web.AppKey("background_role", BackgroundRole)


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


class Elsewhere(web.HTTPServiceUnavailable):
    """A request about a background job that does not run in this process."""


def elsewhere(what: str) -> Elsewhere:
    """The 503 for a request about a background job that does not run in this process
    (forwarded to the holder when it runs on this machine: :func:`install_role`)."""
    return Elsewhere(reason=(
        f"{what} runs in the process that holds this node's background role, not in this "
        "one, and that process cannot be asked now (it is on another machine, or none "
        "holds the role yet)"))


def install_role(app: web.Application, jobs: Sequence[Job], store_url: str | None) -> None:
    """Run ``jobs`` once per database, after every part's context started (they use the
    parts' state) and stopped before them; a request about them reaching another process
    is forwarded to the holder."""
    role = BackgroundRole(app, jobs, store_url)
    app[ROLE] = role
    http: aiohttp.ClientSession | None = None

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        nonlocal http
        await role.start()
        yield
        await role.stop()
        if http is not None:
            await http.close()

    @web.middleware
    async def forward(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal http
        try:
            return await handler(request)
        except Elsewhere:
            if http is None:
                http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
            answer = await role.forward(request, http)
            if answer is None:
                raise
            return answer

    app.cleanup_ctx.append(ctx)
    if store_url is not None:
        app.middlewares.append(forward)
