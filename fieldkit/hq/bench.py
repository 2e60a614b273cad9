"""`fieldkit bench hq`: a fleet syncing into HQ while consoles read, for an SQLite HQ and a
PostgreSQL HQ with 1 and 2 API workers, in one run.

Simulated trucks (own keys, signed chains: incidents and their notes) post their events
in batches to a real HQ node (``fieldkit node run --workers N``, a real process) through
``POST /api/events``, the same verified apply as a sync push, each truck one session,
all at once; consoles meanwhile read the board (``GET /api/incidents?limit=50``) every
half second. Reported: events/s ingested (and x the SQLite HQ, measured in the same
run), the consoles' read latency p50/p95, and the cores each part kept busy meanwhile
(HQ's processes, PostgreSQL's, this client's, and everything else on the machine), since
they all share the cores. PostgreSQL is a throwaway local server
(:mod:`fieldkit.pgserver`) with fsync on, as SQLite runs synchronous=FULL.

The same pieces drive the multi-worker crash test (tests/test_workers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import click
import uuid6

from fieldkit.bench import percentile
from fieldkit.bench.cpu import CpuShares
from fieldkit.bench.process import NodeProcess, free_port
from fieldkit.events import GENESIS, Event, seal
from fieldkit.hlc import LOGICAL_BITS
from fieldkit.identity import NodeIdentity
from fieldkit.nodedir import init_node_dir
from fieldkit.pgserver import TempPostgres
from fieldkit.tasks import wait_event

BATCH = 500
EVENTS_PER_INCIDENT = 20
CONSOLE_PERIOD_S = 0.5
PUSH_GIVE_UP_S = 120.0
#: The bench's clock: every run signs the same timeline.
EPOCH_MS = 1_790_000_000_000


@dataclass
class Truck:
    identity: NodeIdentity
    events: list[Event]

    def batches(self, size: int = BATCH) -> list[bytes]:
        """Request bodies: the wire form of consecutive runs of the chain."""
        return [json.dumps([e.to_wire() for e in self.events[i:i + size]]).encode()
                for i in range(0, len(self.events), size)]


def simulated_trucks(count: int, events: int) -> list[Truck]:
    """``count`` trucks holding ``events`` signed events between them."""
    trucks = []
    for t in range(count):
        identity = NodeIdentity.generate(f"T{t + 1:03d}")
        chain: list[Event] = []
        prev, incident = GENESIS, ""
        for seq in range(1, events // count + (t < events % count) + 1):
            hlc = (EPOCH_MS + seq * 1000 + t) << LOGICAL_BITS
            if (seq - 1) % EVENTS_PER_INCIDENT == 0:
                incident = str(uuid6.uuid7())
                kind, payload = "create", {"title": f"{identity.name} incident {seq}",
                                           "kind": "medical", "severity": 1 + seq % 5,
                                           "source": "crew"}
            else:
                kind, payload = "note", {"text": f"update {seq} from {identity.name}"}
            event = seal(identity, seq=seq, hlc=hlc, incident=incident, kind=kind,
                         payload=payload, prev=prev)
            prev = event.hash
            chain.append(event)
        trucks.append(Truck(identity, chain))
    return trucks


def prepare_hq(root: Path, trucks: list[Truck], store_url: str | None, port: int) -> Path:
    """An HQ node directory trusting the trucks, on ``store_url`` (None: SQLite)."""
    node_dir = root / "HQ"
    init_node_dir(node_dir, role="hq", name="HQ")
    path = node_dir / "fieldkit.toml"
    text = path.read_text(encoding="utf-8").replace("port = 8470", f"port = {port}")
    keys = "".join(f'{t.identity.name} = "{t.identity.public_key_b64}"\n' for t in trucks)
    text = text.replace("[trust.nodes]\n", "[trust.nodes]\n" + keys)
    if store_url is not None:
        text += f"\n[store]\nurl = {json.dumps(store_url)}\n"
    path.write_text(text, encoding="utf-8")
    return node_dir


async def push(session: aiohttp.ClientSession, url: str, body: bytes) -> int:
    """POST one batch until HQ acknowledges it (a worker may die under it: retry, as a
    truck's sync does); returns the events HQ newly applied. An HQ that acknowledges
    nothing for ``PUSH_GIVE_UP_S`` is down, not busy: RuntimeError."""
    deadline = time.monotonic() + PUSH_GIVE_UP_S
    while time.monotonic() < deadline:
        try:
            async with session.post(f"{url}/api/events", data=body,
                                    headers={"Content-Type": "application/json"}) as response:
                if response.status == 200:
                    return int((await response.json())["applied"])
                if response.status < 500:
                    raise RuntimeError(f"HQ refused a batch: {await response.text()}")
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"HQ at {url} acknowledged no batch for {PUSH_GIVE_UP_S:.0f} s")


@dataclass
class Run:
    backend: str
    workers: int
    events: int
    seconds: float
    reads_ms: list[float] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds during the drive: client (trucks and consoles), hq, postgresql, other."""

    def cores(self, part: str) -> float:
        """Cores ``part`` kept busy on average while the fleet synced."""
        return self.cpu_s.get(part, 0.0) / self.seconds

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def percentile(self, q: int) -> float:
        return percentile(self.reads_ms, q)


async def _console(session: aiohttp.ClientSession, url: str, done: asyncio.Event,
                   reads_ms: list[float]) -> None:
    while not done.is_set():
        start = time.perf_counter()
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"{url}/api/incidents?limit=50") as response:
                await response.read()
                if response.status == 200:
                    reads_ms.append((time.perf_counter() - start) * 1000)
        await wait_event(done, CONSOLE_PERIOD_S)


async def drive(url: str, bodies: list[list[bytes]],
                consoles: int) -> tuple[int, float, list[float]]:
    """Every truck pushes its batches (``bodies``, signed and encoded beforehand, so the
    client does no such work while HQ is timed) in order while ``consoles`` read:
    (applied, seconds, read latencies in ms)."""
    reads_ms: list[float] = []
    done = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=600)) as session:
        readers = [asyncio.create_task(_console(session, url, done, reads_ms))
                   for _ in range(consoles)]

        async def truck(batches: list[bytes]) -> int:
            return sum([await push(session, url, body) for body in batches])

        start = time.perf_counter()
        applied = sum(await asyncio.gather(*(truck(b) for b in bodies)))
        seconds = time.perf_counter() - start
        done.set()
        await asyncio.gather(*readers)
    return applied, seconds, reads_ms


def run_hq_bench(*, trucks: int = 200, events: int = 1_000_000, consoles: int = 50,
                 progress: Callable[[str], None] = lambda _: None) -> list[Run]:
    """SQLite HQ, then PostgreSQL HQ with 1 and 2 workers, on the same events."""
    progress(f"signing {events:,} events of {trucks} trucks")
    fleet = simulated_trucks(trucks, events)
    bodies = [t.batches() for t in fleet]
    runs = []
    with tempfile.TemporaryDirectory() as tmp, TempPostgres() as server:
        configurations = (("sqlite", 1), ("postgresql", 1), ("postgresql", 2))
        # Created up front: CREATE DATABASE checkpoints, which after a run takes a while.
        urls = [server.create_database() if backend == "postgresql" else None
                for backend, _ in configurations]
        for (backend, workers), url in zip(configurations, urls, strict=True):
            root = Path(tmp) / f"{backend}-{workers}"
            root.mkdir()
            port = free_port()
            progress(f"{backend} HQ, {workers} worker(s): {consoles} consoles reading")
            with NodeProcess(prepare_hq(root, fleet, url, port), workers, port) as hq:
                asyncio.run(hq.ready())
                assert hq.proc is not None
                # The server's time counts for every configuration (SQLite HQ: ~0).
                cpu = CpuShares({"hq": hq.proc.pid, "postgresql": server.pid})
                cpu.start()
                applied, seconds, reads = asyncio.run(drive(hq.url, bodies, consoles))
                cpu_s = cpu.stop()
            if applied != events:
                raise RuntimeError(f"{backend} x{workers}: {applied} of {events} applied")
            runs.append(Run(backend, workers, applied, seconds, reads, cpu_s))
    return runs


PARTS = ("hq", "postgresql", "client", "other")


def table(runs: list[Run]) -> str:
    base = runs[0].rate
    lines = [f"{'HQ store':<14}{'workers':>8}{'events/s':>11}{'x sqlite':>10}"
             f"{'read p50 ms':>13}{'read p95 ms':>13}  cores:{'hq':>5}{'pg':>6}"
             f"{'client':>8}{'other':>7}"]
    lines += [f"{r.backend:<14}{r.workers:>8}{r.rate:>11,.0f}{r.rate / base:>10.2f}"
              f"{r.percentile(50):>13.1f}{r.percentile(95):>13.1f}        "
              f"{r.cores('hq'):>5.2f}{r.cores('postgresql'):>6.2f}{r.cores('client'):>8.2f}"
              f"{r.cores('other'):>7.2f}" for r in runs]
    pg = [r for r in runs if r.backend == "postgresql"]
    if len(pg) == 2:
        lines.append(f"postgresql 2 workers / 1 worker: {pg[1].rate / pg[0].rate:.2f}x")
    return "\n".join(lines)


def as_dict(runs: list[Run]) -> dict[str, Any]:
    return {"runs": [{"backend": r.backend, "workers": r.workers, "events": r.events,
                      "events_per_s": round(r.rate), "x_sqlite": round(r.rate / runs[0].rate, 3),
                      "read_p50_ms": round(r.percentile(50), 1),
                      "read_p95_ms": round(r.percentile(95), 1),
                      "cores": {p: round(r.cores(p), 2) for p in PARTS}} for r in runs]}


@click.command("hq")
@click.option("--trucks", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.option("--events", type=click.IntRange(100), default=1_000_000, show_default=True,
              help="Events the trucks hold between them (scale down for a quick look).")
@click.option("--consoles", type=click.IntRange(0, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable figures.")
def bench_hq(trucks: int, events: int, consoles: int, as_json: bool) -> None:
    """Fleet ingest and console reads: SQLite HQ vs PostgreSQL HQ with 1 and 2 workers."""
    runs = run_hq_bench(trucks=trucks, events=events, consoles=consoles,
                        progress=lambda m: click.echo(m, err=True))
    click.echo(json.dumps(as_dict(runs), indent=2) if as_json else table(runs))
