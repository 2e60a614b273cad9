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
(d) **commit -> HQ**: an incident committed on truck A until it is in HQ's store,
    directly and relayed through truck B, with push-on-write against interval-only
    scheduling (real nodes, schedulers, HTTP, on loopback; :mod:`sync.benchlatency`).
(e) **link up -> HQ**: the same after A's link comes back (backoff decides).
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

from fieldkit.config import load_config
from fieldkit.errors import SyncError
from fieldkit.events import Event
from fieldkit.node import Node
from sync.benchlatency import commit_latency, link_latency, port0
from sync.config import SyncSection
from sync.http import HttpTransport
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
        a, b, c = f["a_wire"], f["b_throughput"], f["c_simulation"]
        d, e = f["d_commit"], f["e_link_up"]
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
            f"(d) commit on truck A -> in HQ's store, links up, {d['samples']} incidents "
            "per row   (target: median <= 0.3 s)",
            f"{'':30}{'median':>8}{'p95':>8}{'worst':>8}  x interval-only",
            *[_latency_row(f"{label}, {arm}", d[key][mode],
                           d[f"{mode}_ratio"] if key == "push_on_write" else 1.0)
              for mode, label in (("direct", "direct"), ("relayed", "via B"))
              for key, arm in (("interval_only", "interval only"),
                               ("push_on_write", "push on write"))],
            f"    (sync interval {d['interval_s']} s in both arms; the default is 5 s)",
            "(e) link up -> in HQ's store, A's incident waiting (target <= 5 s)",
            *[_latency_row(label, e[mode]) for mode, label in
              (("direct", "direct"), ("relayed", "relayed through truck B"))],
            f"    (sync interval {e['interval_s']} s, backoff up to {e['backoff_max_s']} s)",
        ]
        return "\n".join(lines)


def _latency_row(label: str, figures: dict[str, Any], ratio: float | None = None) -> str:
    row = (f"    {label:<26}{figures['median']:>6.2f} s{figures['p95']:>6.2f} s"
           f"{figures['worst']:>6.2f} s")
    return row if ratio is None else f"{row}  {ratio:.3f}"


async def run_sync_bench(*, events: int = 20_000, trucks: int = 50, trials: int = 200,
                         samples: int = 20, latency_runs: int = 5,
                         progress: Progress | None = None) -> SyncBenchResult:
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
        say("(d) measuring commit-to-HQ latency, interval-only then push-on-write ...")
        result.figures["d_commit"] = await commit_latency(root / "d", samples)
        say("(e) measuring link-up-to-HQ latency ...")
        result.figures["e_link_up"] = await link_latency(root / "e", latency_runs)
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
    sink = Node(port0(load_config(root / "T2")))
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


async def _engine(node: Node) -> SyncEngine:
    """A sync engine on the running node's store worker, as its scheduler has."""
    worker, config = node.worker, node.config
    sync = config.section(SyncSection)
    trust = await worker.call(open_trust, worker.log, config.trust.nodes, sync.hq,
                              config.node.role)
    return SyncEngine(worker, trust, sync)


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
