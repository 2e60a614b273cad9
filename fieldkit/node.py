"""The node runtime: serves the local API and runs the parts its config enables
(cameras, drones, sync, ...: :mod:`fieldkit.parts`) until stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from enum import StrEnum

from aiohttp import web

from fieldkit.api import create_app
from fieldkit.appkeys import WORKER
from fieldkit.background import ROLE, Job
from fieldkit.config import Config
from fieldkit.parts import Installer, enabled_installers, enabled_jobs
from fieldkit.worker import LogWorker

logger = logging.getLogger(__name__)


class NodeState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class Node:
    """One fieldkit node. ``async start()``, ``async stop()`` (safe to call twice)."""

    def __init__(self, config: Config, parts: tuple[Installer, ...] | None = None,
                 jobs: tuple[Job, ...] | None = None, reuse_port: bool = False) -> None:
        """``parts``: the installers to run beside the API (default: those of the parts
        ``config`` enables, in start order; they stop in reverse). ``jobs``: their
        background jobs (default: the enabled parts' when ``parts`` is the default, else
        none), run once per database (:mod:`fieldkit.background`). ``reuse_port``: share
        the port with other API workers (:mod:`fieldkit.workers`)."""
        self.config = config
        self.reuse_port = reuse_port
        self._parts = enabled_installers(config) if parts is None else parts
        if jobs is None:
            jobs = enabled_jobs(config) if parts is None else ()
        self._jobs = jobs
        self.state = NodeState.NEW
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None
        self.port = config.api.port

    def _set_state(self, state: NodeState) -> None:
        logger.info("node %s: %s -> %s", self.config.node.name, self.state, state)
        self.state = state

    async def start(self) -> None:
        if self.state is not NodeState.NEW:
            raise RuntimeError(f"cannot start a node in state {self.state}")
        self._app = create_app(self.config, self._parts, self._jobs)
        # access_log=None: request lines could carry query tokens one day; keep logs clean.
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.api.host, self.config.api.port,
                           reuse_port=self.reuse_port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._set_state(NodeState.STOPPED)
            raise OSError(exc.errno, f"cannot listen on {self.config.api.host}:"
                          f"{self.config.api.port}: {exc.strerror}") from exc
        self.port = self._runner.addresses[0][1]
        if self.config.store.url is not None:
            # Other processes on this database forward requests about the background
            # jobs here when this one holds their role (fieldkit.background).
            private = web.TCPSite(self._runner, "127.0.0.1", 0)
            await private.start()
            self._app[ROLE].private_port = self._runner.addresses[-1][1]
        self._set_state(NodeState.RUNNING)
        logger.info("API listening on http://%s:%d", self.config.api.host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            self._set_state(NodeState.STOPPED)

    @property
    def url(self) -> str:
        host = self.config.api.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def worker(self) -> LogWorker:
        if self._app is None or self.state is not NodeState.RUNNING:
            raise RuntimeError("the node is not running")
        return self._app[WORKER]


async def run_until_signalled(node: Node, on_started: Callable[[], object] | None = None
                              ) -> None:
    """Start ``node`` (then call ``on_started``), serve until SIGINT or SIGTERM, stop it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await node.start()
    if on_started is not None:
        on_started()
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        await node.stop()
