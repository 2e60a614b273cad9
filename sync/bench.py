"""`fieldkit bench sync`: sync against its baselines, measured in one run.

(a) **wire size**: bytes per event of the protocol's batches against the event's JSON
    (wire form, as ``POST /api/events`` takes it); gzip'd JSON is shown alongside.
(b) **throughput**: events/s replicated by one session between two nodes over HTTP on
    127.0.0.1, the source a `fieldkit node run` process (plan, encode, sign, send,
    decode, verify chain + hashes + signatures, commit, fold),
    against :meth:`IncidentLog.apply_wire` of the same events with no network.
(c) **fleet simulation**: 50 trucks + HQ; each round every link (truck-truck and
    truck-HQ) is up with probability 0.1; a session over an up link moves what scope
    allows (:mod:`sync.scope`). Rounds until HQ holds every truck's log, and until every
    truck holds every truck's log, against a baseline where trucks only push their own
    log to HQ. Median and worst over many random schedules.
(d) **latency**: an incident committed on truck A while its links are down; the time
    from the link coming up to the incident being in HQ's store, directly and relayed
    through truck B, with background sync as configured for a truck (real nodes,
    schedulers, HTTP, on loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import uuid6

from fieldkit.config import Config, SyncPeer, load_config
from fieldkit.errors import SyncError
from fieldkit.events import Event
from fieldkit.node import Node
from sync.http import HttpTransport
from sync.peerstate import peer_record
from sync.protocol import encode_batch
from sync.provision import open_node, provision_fleet
from sync.roster import open_trust
from sync.session import SyncEngine

Progress = Callable[[str], None]


@dataclass
class SyncBenchResult:
    figures: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return self.figures

    def table(self) -> str:
        f = self.figures
        a, b, c, d = f["a_wire"], f["b_throughput"], f["c_simulation"], f["d_latency"]
        lines = [
            "(a) wire size                bytes/event  x JSON   (target <= 0.5)",
            f"    JSON wire form            {a['json_bytes_per_event']:>10.1f}   1.000",
            f"    gzip'd JSON               {a['gzip_json_bytes_per_event']:>10.1f}   "
            f"{a['gzip_ratio']:.3f}",
            f"    sync batch                {a['wire_bytes_per_event']:>10.1f}   "
            f"{a['ratio']:.3f}",
            "(b) throughput               events/s     x local apply   (target >= 10,000)",
            f"    apply_wire, no network    {b['local_apply_events_s']:>10,.0f}   1.000",
            f"    session over HTTP         {b['http_events_s']:>10,.0f}   {b['ratio']:.3f}"
            f"   ({b['events']} events)",
            f"(c) {c['trucks']} trucks along a route + HQ; each truck links with HQ and the "
            f"{c['reach']} nearest trucks each side,",
            f"    each link up {c['link_up']:.0%} of rounds, {c['trials']} random schedules",
            "                             median   worst   (rounds)",
            f"    HQ complete, push-only    {c['baseline_hq']['median']:>6}  "
            f"{c['baseline_hq']['worst']:>6}",
            f"    HQ complete, anti-entropy {c['sync_hq']['median']:>6}  "
            f"{c['sync_hq']['worst']:>6}   x baseline {c['hq_ratio']:.3f}",
            f"    every truck complete      {c['sync_all']['median']:>6}  "
            f"{c['sync_all']['worst']:>6}   (push-only: never)",
            "(d) commit on truck A -> HQ store after the link comes up (target <= 5 s)",
            f"    direct                    median {d['direct']['median']:.2f} s, "
            f"worst {d['direct']['worst']:.2f} s",
            f"    relayed through truck B   median {d['relayed']['median']:.2f} s, "
            f"worst {d['relayed']['worst']:.2f} s",
            f"    (sync interval {d['interval_s']} s, backoff up to {d['backoff_max_s']} s)",
        ]
        return "\n".join(lines)


async def run_sync_bench(*, events: int = 20_000, trucks: int = 50, trials: int = 200,
                         latency_runs: int = 5, progress: Progress | None = None
                         ) -> SyncBenchResult:
    say = progress or (lambda msg: None)
    result = SyncBenchResult()
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-sync-") as tmp:
        root = Path(tmp)
        say("(a, b) writing events ...")
        sample = _write_events(root / "ab", events)
        result.figures["a_wire"] = _wire(sample)
        say("(b) replicating over HTTP ...")
        result.figures["b_throughput"] = await _throughput(root / "ab", sample)
        say("(c) simulating the fleet ...")
        result.figures["c_simulation"] = simulate(trucks, trials, seed=1)
        say("(d) measuring commit-to-HQ latency ...")
        result.figures["d_latency"] = await _latency(root / "d", latency_runs)
    return result


# --- (a) and (b) ---------------------------------------------------------------------------


def _write_events(root: Path, n: int) -> list[Event]:
    """A realistic log on truck T1: incidents opened by analytics, acknowledged, assigned,
    noted and moved on scene (5 events each), appended in bulk as analytics would."""
    dirs = provision_fleet(root, ["T1", "T2"], sync={"enabled": False})
    rng = random.Random(3)  # noqa: S311 (benchmark data)
    with open_node(load_config(dirs["T1"])) as (log, _):
        seq = log.version_vector().get("T1", 0)
        while seq < n:
            items: list[tuple[str, str, dict[str, Any]]] = []
            for _ in range(200):
                incident = str(uuid6.uuid7())
                create = {"title": f"Crowd density rising at gate {rng.randint(1, 40)}",
                          "kind": rng.choice(["crowd_density", "medical", "person_down"]),
                          "severity": rng.randint(1, 5), "source": "analytics",
                          "location": {"lat": round(21.42 + rng.random() / 100, 6),
                                       "lon": round(39.87 + rng.random() / 100, 6),
                                       "accuracy_m": 5.0},
                          "description": ""}
                ack = f"T1:{seq + len(items) + 2}"
                items += [
                    (incident, "create", create),
                    (incident, "status", {"status": "acknowledged", "base": [],
                                          "reason": ""}),
                    (incident, "assign", {"agency": "medical",
                                          "unit": f"M-{rng.randint(1, 30)}"}),
                    (incident, "note", {"text": "unit on scene, assessing the crowd"}),
                    (incident, "status", {"status": "on_scene", "base": [ack],
                                          "reason": ""}),
                ]
            seq += len(log.append(items))
        return log.events_since({}, limit=n)


def _wire(events: list[Event]) -> dict[str, Any]:
    as_json = [json.dumps(e.to_wire(), separators=(",", ":")).encode() for e in events]
    json_bytes = sum(len(j) for j in as_json)
    gz = 0
    wire = 0
    for i in range(0, len(events), 2000):
        wire += len(encode_batch(events[i:i + 2000]))
        gz += len(gzip.compress(b"[" + b",".join(as_json[i:i + 2000]) + b"]"))
    n = len(events)
    return {"events": n, "json_bytes_per_event": json_bytes / n,
            "gzip_json_bytes_per_event": gz / n, "gzip_ratio": gz / json_bytes,
            "wire_bytes_per_event": wire / n, "ratio": wire / json_bytes}


async def _throughput(root: Path, events: list[Event]) -> dict[str, Any]:
    wire = [e.to_wire() for e in events]
    with open_node(load_config(root / "HQ")) as (log, _):
        started = time.perf_counter()
        for i in range(0, len(wire), 2000):
            log.apply_wire(wire[i:i + 2000])
        local = len(wire) / (time.perf_counter() - started)
    # The source is its own process (`fieldkit node run`), as a peer truck would be.
    port = _free_port()
    config_file = root / "T1" / "fieldkit.toml"
    config_file.write_text(config_file.read_text().replace("port = 0", f"port = {port}", 1))
    source = subprocess.Popen(  # noqa: S603 (our own CLI, fixed arguments)
        [sys.executable, "-m", "fieldkit.cli", "node", "run", "--dir", str(root / "T1")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sink = Node(_port0(load_config(root / "T2")))
    await sink.start()
    try:
        engine = await _engine(sink)
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}"
            await _until_serving(http, url, source)
            transport = HttpTransport(http, url, "T1", engine.trust.identity, engine.trust)
            started = time.perf_counter()
            report = await engine.run_session(transport)
            seconds = time.perf_counter() - started
    finally:
        await sink.stop()
        source.terminate()
        source.wait(30)
    rate = report.pulled / seconds
    return {"events": report.pulled, "seconds": seconds, "http_events_s": rate,
            "local_apply_events_s": local, "ratio": rate / local}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _until_serving(http: aiohttp.ClientSession, url: str,
                         proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with http.get(url + "/api/health") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.05)  # polling the node's start, with a deadline
    raise SyncError(f"the source node did not start serving at {url}")


def _port0(config: Config) -> Config:
    return config.model_copy(update={"api": config.api.model_copy(update={"port": 0})})


async def _engine(node: Node) -> SyncEngine:
    """A sync engine on the running node's store worker, as its scheduler has."""
    worker, config = node.worker, node.config
    trust = await worker.call(open_trust, worker.log, config.trust.nodes, config.sync.hq,
                              config.node.role)
    return SyncEngine(worker, trust, config.sync)


# --- (c) -----------------------------------------------------------------------------------


def simulate(trucks: int, trials: int, seed: int, link_up: float = 0.1,
             reach: int = 2, max_rounds: int = 10_000) -> dict[str, Any]:
    """Rounds to completion with random contact schedules (see the module docstring).

    Trucks stand along a route: each can link with HQ and with the ``reach`` trucks
    nearest on either side (not with all 49 others)."""
    rng = random.Random(seed)  # noqa: S311 (simulation)
    hq = trucks  # node index of HQ; each node's log is one bit
    everything = (1 << trucks) - 1  # every truck's log
    links = [(a, b) for a in range(trucks) for b in range(a + 1, min(a + reach, trucks - 1) + 1)]
    links += [(a, hq) for a in range(trucks)]
    base, hq_done, all_done = [], [], []
    for _ in range(trials):
        held = [1 << i for i in range(trucks + 1)]
        pushed = 0
        first_hq = first_all = first_base = None
        for rnd in range(1, max_rounds + 1):
            up = [link for link in links if rng.random() < link_up]
            rng.shuffle(up)
            for a, b in up:
                if b == hq:
                    pushed |= 1 << a
                    held[hq] |= held[a]
                    held[a] |= held[hq] & ((1 << a) | (1 << hq))  # scope: own + HQ's
                else:
                    held[a] = held[b] = held[a] | held[b]
            if first_base is None and pushed == everything:
                first_base = rnd
            if first_hq is None and held[hq] & everything == everything:
                first_hq = rnd
            if first_all is None and all(h & everything == everything for h in held[:trucks]):
                first_all = rnd
            if first_base and first_hq and first_all:
                break
        base.append(first_base or max_rounds)
        hq_done.append(first_hq or max_rounds)
        all_done.append(first_all or max_rounds)

    def summary(values: list[int]) -> dict[str, Any]:
        return {"median": statistics.median(values), "worst": max(values)}

    return {"trucks": trucks, "trials": trials, "link_up": link_up, "reach": reach,
            "baseline_hq": summary(base), "sync_hq": summary(hq_done),
            "sync_all": summary(all_done),
            "hq_ratio": statistics.median(hq_done) / statistics.median(base)}


# --- (d) -----------------------------------------------------------------------------------


class _Link:
    """A TCP forwarder on 127.0.0.1 that can be cut and restored: a radio link."""

    def __init__(self, target: int) -> None:
        self.target, self.port, self.up = target, 0, False
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.set(False)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def set(self, up: bool) -> None:
        self.up = up
        if not up:
            for w in list(self._open):
                w.transport.abort()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if not self.up:
            w.transport.abort()
            return
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            w.transport.abort()
            return
        self._open |= {w, uw}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(r, uw), pipe(ur, w))
        self._open -= {w, uw}


INTERVAL_S = 1.0
BACKOFF_MAX_S = 2.0


async def _latency(root: Path, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {"interval_s": INTERVAL_S, "backoff_max_s": BACKOFF_MAX_S}
    for mode in ("direct", "relayed"):
        times = [await _one_latency(root / f"{mode}{i}", mode) for i in range(runs)]
        out[mode] = {"median": statistics.median(times), "worst": max(times), "runs": times}
    return out


async def _one_latency(root: Path, mode: str) -> float:
    """Seconds from A's link coming up to A's new incident being in HQ's store."""
    dirs = provision_fleet(root, ["A", "B"], sync={"enabled": False})
    nodes: list[Node] = []
    link: _Link | None = None
    try:
        hq = Node(_port0(load_config(dirs["HQ"])))
        await hq.start()
        nodes.append(hq)
        target = hq
        if mode == "relayed":  # B is linked to HQ; A only ever meets B
            target = Node(_with_peers(load_config(dirs["B"]), {"HQ": hq.url}))
            await target.start()
            nodes.append(target)
        link = _Link(target.port)
        await link.start()
        a = Node(_with_peers(load_config(dirs["A"]), {
            "HQ" if mode == "direct" else "B": f"http://127.0.0.1:{link.port}"}))
        await a.start()
        nodes.append(a)
        incident = await a.worker.call(a.worker.log.create, title="Person down near pillar 7",
                                       kind="person_down", severity=5)
        peer = "HQ" if mode == "direct" else "B"
        while (record := await a.worker.call(peer_record, a.worker.log, peer)) is None \
                or record.failures < 2:
            await asyncio.sleep(0.01)  # until A's scheduler has met the dead link twice
        started = time.monotonic()
        link.set(True)
        while not await hq.worker.call(hq.worker.log.triage, [incident.id]):
            await asyncio.sleep(0.01)  # polling HQ's store
        return time.monotonic() - started
    finally:
        for node in reversed(nodes):
            await node.stop()
        if link is not None:
            await link.stop()


def _with_peers(config: Config, peers: dict[str, str]) -> Config:
    sync = config.sync.model_copy(update={
        "enabled": True, "interval_s": INTERVAL_S, "backoff_max_s": BACKOFF_MAX_S,
        "peers": [SyncPeer(name=n, url=u) for n, u in peers.items()]})
    return _port0(config).model_copy(update={"sync": sync})
