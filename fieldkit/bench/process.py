"""`fieldkit node run` as a real process on 127.0.0.1, for benchmarks and the tests that
drive them: ``with NodeProcess(...)`` starts and stops it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NodeProcess:
    """``fieldkit node run --workers N`` as a real process; ``with`` starts and stops it.
    Its output goes to ``node.log`` in its directory."""

    def __init__(self, node_dir: Path, workers: int, port: int) -> None:
        self.node_dir, self.workers, self.port = node_dir, workers, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NodeProcess:
        script = Path(sys.executable).with_name("fieldkit")
        self.log = (self.node_dir / "node.log").open("wb")
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(  # noqa: S603 (our own command line)
            [str(script), "node", "run", "--dir", str(self.node_dir), "--workers",
             str(self.workers)], stdout=self.log, stderr=subprocess.STDOUT, env=env)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def worker_pids(self) -> list[int]:
        """The worker processes (children of the supervisor; the node itself with 1)."""
        assert self.proc is not None
        if self.workers == 1:
            return [self.proc.pid]
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        pids = []
        with contextlib.suppress(OSError):
            for pid in path.read_text().split():
                # Not multiprocessing's resource tracker, the other child.
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    pids.append(int(pid))
        return pids

    async def wait_ready(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"the node exited with {self.proc.returncode}: see "
                                   f"{self.node_dir / 'node.log'}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{self.url}/api/health") as response:
                    if response.status == 200 and len(self.worker_pids()) == self.workers:
                        return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the node did not answer within {START_TIMEOUT_S:.0f} s")

    async def ready(self) -> None:
        """:meth:`wait_ready` on a session of its own."""
        async with aiohttp.ClientSession() as session:
            await self.wait_ready(session)
