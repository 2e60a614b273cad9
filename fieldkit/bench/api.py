"""`fieldkit bench api`: the API's reads, idle and under live-stream and write load, in one run.

A real truck node (``fieldkit node run``, a real process on 127.0.0.1) holds a board of
incidents. Readers poll ``GET /api/incidents`` and ``GET /api/health`` for a while with
nothing else going on (the baseline), then again while another process keeps
``subscribers`` live streams open on ``/api/events/stream`` and ``writers`` crews each
change an incident once a second (``PATCH /api/incidents/{id}``). The load runs in its own
process so that parsing 200 streams does not slow the measuring client. Reported: read
p50/p95 idle and loaded and the ratio, and whether every subscriber received every event
written (nothing lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import aiohttp

from fieldkit.bench import percentile
from fieldkit.bench.process import NodeProcess, free_port
from fieldkit.nodedir import init_node_dir

READS = ("/api/incidents", "/api/health")
READ_PERIOD_S = 0.05
#: How long the live streams may take to deliver the last event once writers stop.
DRAIN_TIMEOUT_S = 60.0
JSON = {"Content-Type": "application/json"}


@dataclass
class ApiBenchResult:
    incidents: int
    subscribers: int
    writers: int
    seconds: float
    idle: dict[str, list[float]] = field(default_factory=dict)
    loaded: dict[str, list[float]] = field(default_factory=dict)
    writes_ms: list[float] = field(default_factory=list)
    events_written: int = 0
    complete_streams: int = 0
    """Subscribers that received every event up to the last cursor."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents, "subscribers": self.subscribers,
            "writers": self.writers, "seconds_per_phase": self.seconds,
            "reads": {path: {
                "idle_p50_ms": round(percentile(self.idle[path], 50), 1),
                "idle_p95_ms": round(percentile(self.idle[path], 95), 1),
                "loaded_p50_ms": round(percentile(self.loaded[path], 50), 1),
                "loaded_p95_ms": round(percentile(self.loaded[path], 95), 1),
                "p95_x_idle": round(self._ratio(path), 2),
                "requests": len(self.idle[path]) + len(self.loaded[path]),
            } for path in READS},
            "writes": {"acknowledged": self.events_written,
                       "p95_ms": round(percentile(self.writes_ms, 95), 1)},
            "streams_complete": self.complete_streams,
        }

    def _ratio(self, path: str) -> float:
        return percentile(self.loaded[path], 95) / percentile(self.idle[path], 95)

    def table(self) -> str:
        lines = [f"{self.incidents} incidents; load: {self.subscribers} live-stream "
                 f"subscribers, {self.writers} writers at 1/s; {self.seconds:.0f} s a phase",
                 f"{'read':<22}{'idle p50':>10}{'idle p95':>10}{'load p50':>10}"
                 f"{'load p95':>10}{'p95 x idle':>12}"]
        lines += [f"GET {path:<18}{percentile(self.idle[path], 50):>10.1f}"
                  f"{percentile(self.idle[path], 95):>10.1f}"
                  f"{percentile(self.loaded[path], 50):>10.1f}"
                  f"{percentile(self.loaded[path], 95):>10.1f}{self._ratio(path):>12.2f}"
                  for path in READS]
        lines.append(f"writes acknowledged: {self.events_written} (p95 "
                     f"{percentile(self.writes_ms, 95):.1f} ms); live streams with every "
                     f"event: {self.complete_streams}/{self.subscribers}")
        return "\n".join(lines)


async def _timed(session: aiohttp.ClientSession, method: str, url: str,
                 body: Any = None) -> tuple[float, Any]:
    start = time.perf_counter()
    async with session.request(method, url, json=body) as response:
        data = await response.json()
        if response.status >= 300:
            raise RuntimeError(f"{method} {url}: {response.status} {data}")
    return (time.perf_counter() - start) * 1000, data


async def _read(url: str, seconds: float) -> dict[str, list[float]]:
    """Each read path polled by one client every READ_PERIOD_S for ``seconds``."""
    found: dict[str, list[float]] = {path: [] for path in READS}
    async with aiohttp.ClientSession() as session:
        async def poll(path: str) -> None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                found[path].append((await _timed(session, "GET", url + path))[0])
                await asyncio.sleep(READ_PERIOD_S)

        await asyncio.gather(*(poll(path) for path in READS))
    return found


async def _seed(url: str, incidents: int) -> list[str]:
    async with aiohttp.ClientSession() as session:
        ids = []
        for n in range(incidents):
            _, data = await _timed(session, "POST", f"{url}/api/incidents", {
                "title": f"bench incident {n}", "kind": "medical", "severity": 1 + n % 5})
            ids.append(data["id"])
    return ids


async def _cursor(url: str) -> int:
    async with aiohttp.ClientSession() as session:
        return int((await _timed(session, "GET", f"{url}/api/health"))[1]["cursor"])


# --- the load, in its own process ------------------------------------------------------


async def _subscribe(session: aiohttp.ClientSession, url: str, last: list[int], n: int,
                     connected: asyncio.Event, count: list[int], total: int) -> None:
    """Read one live stream, keeping the last event id seen in ``last[n]``."""
    async with session.get(f"{url}/api/events/stream?after={last[n]}") as response:
        count[0] += 1
        if count[0] == total:
            connected.set()
        tail = b""
        async for chunk in response.content.iter_any():
            text = tail + chunk
            cut = text.rfind(b"\nid: ")
            if cut >= 0 or text.startswith(b"id: "):
                start = cut + 5 if cut >= 0 else 4
                end = text.find(b"\n", start)
                if end >= 0:
                    last[n] = int(text[start:end])
            tail = text[-64:]


async def _write(session: aiohttp.ClientSession, url: str, incident: str, stop: EventType,
                 offset: float, writes_ms: list[float]) -> None:
    await asyncio.sleep(offset)  # writers spread over the second, as crews are
    n = 0
    while not stop.is_set():
        began = time.monotonic()
        n += 1
        ms, _ = await _timed(session, "PATCH", f"{url}/api/incidents/{incident}",
                             {"title": f"bench update {n}"})
        writes_ms.append(ms)
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))


async def _load(url: str, ids: list[str], subscribers: int, writers: int, start_cursor: int,
                running: EventType, stop: EventType, results: Any) -> None:
    last = [start_cursor] * subscribers
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        connected, count = asyncio.Event(), [0]
        streams = [asyncio.create_task(_subscribe(session, url, last, n, connected, count,
                                                  subscribers)) for n in range(subscribers)]
        await connected.wait()
        writes_ms: list[float] = []
        tasks = [asyncio.create_task(_write(session, url, ids[w % len(ids)], stop,
                                            w / writers, writes_ms)) for w in range(writers)]
        running.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await asyncio.gather(*tasks)
        _, health = await _timed(session, "GET", f"{url}/api/health")
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while min(last) < health["cursor"] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for task in streams:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*streams, return_exceptions=True)
    results.put((len(writes_ms), writes_ms, sum(x >= health["cursor"] for x in last)))


def _load_process(url: str, ids: list[str], subscribers: int, writers: int,
                  start_cursor: int, running: EventType, stop: EventType, results: Any) -> None:
    asyncio.run(_load(url, ids, subscribers, writers, start_cursor, running, stop, results))


# --- the run ----------------------------------------------------------------------------


def run_api_bench(*, incidents: int = 200, subscribers: int = 200, writers: int = 50,
                  seconds: float = 20.0,
                  progress: Callable[[str], None] = lambda _: None) -> ApiBenchResult:
    """Idle reads, then the same reads under load, against one real node."""
    result = ApiBenchResult(incidents, subscribers, writers, seconds)
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        node_dir = Path(tmp) / "T1"
        init_node_dir(node_dir, role="truck", name="T1")
        port = free_port()
        config = node_dir / "fieldkit.toml"
        config.write_text(config.read_text().replace("port = 8470", f"port = {port}"))
        with NodeProcess(node_dir, 1, port) as node:
            asyncio.run(node.ready())
            progress(f"seeding {incidents} incidents")
            ids = asyncio.run(_seed(node.url, incidents))
            progress(f"idle reads for {seconds:.0f} s")
            result.idle = asyncio.run(_read(node.url, seconds))
            cursor = asyncio.run(_cursor(node.url))
            running, stop, results = spawn.Event(), spawn.Event(), spawn.Queue()
            load = spawn.Process(target=_load_process, name="fieldkit-bench-load", args=(
                node.url, ids, subscribers, writers, cursor, running, stop, results))
            load.start()
            try:
                progress(f"{subscribers} live streams and {writers} writers starting")
                if not running.wait(120):
                    raise RuntimeError("the load did not start within 120 s")
                progress(f"loaded reads for {seconds:.0f} s")
                result.loaded = asyncio.run(_read(node.url, seconds))
                stop.set()
                progress("waiting for every live stream to deliver the last event")
                result.events_written, result.writes_ms, result.complete_streams = \
                    results.get(timeout=DRAIN_TIMEOUT_S + 60)
            finally:
                stop.set()
                load.join(30)
                if load.is_alive():
                    load.kill()
    return result
