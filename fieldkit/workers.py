"""Several API workers over one PostgreSQL database, sharing one port.

``fieldkit node run --workers N`` keeps N worker processes, each a whole node (API, feed,
parts) on its own event loop and store pool, listening on the same port with
SO_REUSEPORT: the kernel spreads connections over them, so signature verification of
sync batches runs on every core. The parent only reserves the port (bound, never
listening, so it takes no connections), restarts a worker that dies, and stops them all
on SIGINT/SIGTERM. A worker that dies before it listens means the node cannot start
(a config or database problem): the parent stops them all rather than loop. Per-origin
locks in the store keep concurrent sync sessions from losing, duplicating or reordering
any origin's events; LISTEN/NOTIFY wakes every worker's live streams whichever worker
took the write. The parts' background jobs run in one worker only, whichever holds their
advisory lock (:mod:`fieldkit.background`): the lock, not this supervisor, decides, so
the rule holds across machines and survives the supervisor itself.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import socket
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from types import FrameType

from fieldkit.config import Config, load_config
from fieldkit.errors import ConfigError
from fieldkit.logsetup import setup_logging

logger = logging.getLogger(__name__)

STOP_GRACE_S = 10.0


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (without listening) ``host:port`` with SO_REUSEPORT: port 0 picks a free one
    that every worker then binds too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


def _worker_main(node_dir: Path, port: int, index: int, ready: EventType) -> None:
    from fieldkit.node import Node, run_until_signalled

    config = load_config(node_dir)
    setup_logging(config.logging.level)
    config = config.model_copy(update={"api": config.api.model_copy(update={"port": port})})
    logger.info("API worker %d starting", index)
    asyncio.run(run_until_signalled(Node(config, reuse_port=True), on_started=ready.set))


def check_workers(config: Config, count: int) -> None:
    if count > 1 and not config.store.is_postgresql:
        raise ConfigError(
            f"--workers {count}: several workers need a PostgreSQL store (store.url = "
            "'postgresql://...'); SQLite has one writer, run one worker")


def run_workers(node_dir: Path, count: int) -> None:
    """Run ``count`` workers until SIGINT/SIGTERM; a worker that dies is restarted."""
    config = load_config(node_dir)
    check_workers(config, count)
    reserved = reserve_port(config.api.host, config.api.port)
    port = reserved.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    ready: dict[int, EventType] = {}

    def start(index: int) -> BaseProcess:
        ready[index] = ctx.Event()
        process = ctx.Process(target=_worker_main, args=(node_dir, port, index, ready[index]),
                              name=f"fieldkit-worker-{index}")
        process.start()
        return process

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    workers = {index: start(index) for index in range(count)}
    logger.info("%d API workers on http://%s:%d", count, config.api.host, port)
    try:
        while not stopping:
            wait([w.sentinel for w in workers.values()], timeout=0.2)
            for index, worker in list(workers.items()):
                if not worker.is_alive() and not stopping:
                    if not ready[index].is_set():
                        raise RuntimeError(f"API worker {index} exited at start with "
                                           f"{worker.exitcode}: see its log above")
                    logger.warning("API worker %d (pid %s) exited with %s: restarting it",
                                   index, worker.pid, worker.exitcode)
                    workers[index] = start(index)
    finally:
        for worker in workers.values():
            worker.terminate()
        for worker in workers.values():
            worker.join(STOP_GRACE_S)
            if worker.is_alive():
                worker.kill()
        reserved.close()
