"""Fault tests with real node processes: two trucks and HQ on loopback, every link
through a fault-injecting proxy (drops, delays, duplicates, truncation, resets),
partitions that heal, and a SIGKILL in the middle of a session.

Afterwards every replica must be byte-identical (events and folded incidents), and every
incident a node acknowledged (201) must be everywhere, exactly once.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from faultproxy import FAULTS, FaultProxy
from syncfleet import free_port, make_fleet
from waiting import until

pytestmark = pytest.mark.slow

FIELDKIT = str(Path(sys.executable).with_name("fieldkit"))
DEADLINE_S = 90.0


class NodeProcess:
    def __init__(self, name: str, node_dir: Path, port: int) -> None:
        self.name, self.dir, self.port = name, node_dir, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = node_dir / "node.log"

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 (lives as long as the process)
        self.proc = subprocess.Popen([FIELDKIT, "node", "run", "--dir", str(self.dir)],
                                     stdout=log, stderr=subprocess.STDOUT)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    async def healthy(self, http: aiohttp.ClientSession) -> dict | None:
        try:
            async with http.get(self.url + "/api/health",
                                timeout=aiohttp.ClientTimeout(total=2)) as r:
                return await r.json() if r.status == 200 else None
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None


async def create(http, node: NodeProcess, n: int, acked: dict[str, str]) -> None:
    """Open incidents on ``node``; remember the ones it acknowledged."""
    for i in range(n):
        body = {"title": f"{node.name} incident {len(acked)}-{i}", "kind": "medical",
                "severity": 1 + i % 5}
        async with http.post(node.url + "/api/incidents", json=body) as r:
            assert r.status == 201, await r.text()
            incident = (await r.json())["id"]
        async with http.post(f"{node.url}/api/incidents/{incident}/notes",
                             json={"text": "crew dispatched"}) as r:
            assert r.status == 200
        acked[incident] = node.name


def dump(db: Path) -> tuple[bytes, bytes]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        events = conn.execute("SELECT origin, seq, hlc, incident, kind, payload, prev, hash,"
                              " sig FROM events ORDER BY origin, seq").fetchall()
        incidents = conn.execute("SELECT id, state FROM incidents ORDER BY id").fetchall()
    finally:
        conn.close()
    return repr(events).encode(), repr(incidents).encode()


def _faults(proxies) -> Counter[str]:
    return sum((p.faults for p in proxies.values()), start=Counter())


async def test_replicas_converge_through_faults_partitions_and_sigkill(tmp_path):
    names = ["HQ", "T1", "T2"]
    ports = {n: free_port() for n in names}
    links = [("T1", "HQ"), ("T2", "HQ"), ("T1", "T2"), ("T2", "T1")]
    proxies = {link: FaultProxy(f"{link[0]}->{link[1]}", ports[link[1]], seed=i)
               for i, link in enumerate(links)}
    for proxy in proxies.values():
        await proxy.start()
    peers: dict[str, dict[str, str]] = {"T1": {}, "T2": {}}
    for (a, b), proxy in proxies.items():
        if b != "HQ":
            peers[a][b] = f"http://127.0.0.1:{proxy.port}"
    sync = {"enabled": True, "interval_s": 0.2, "backoff_max_s": 1.0, "timeout_s": 5.0,
            "batch_events": 25}
    hq_urls = {t: f"http://127.0.0.1:{proxies[(t, 'HQ')].port}" for t in ("T1", "T2")}
    fleet = make_fleet(tmp_path, ["T1", "T2"], sync=sync, ports=ports, peers=peers,
                       hq_urls=hq_urls)
    nodes = {n: NodeProcess(n, fleet.dirs[n], ports[n]) for n in names}
    acked: dict[str, str] = {}
    try:
        for node in nodes.values():
            node.start()
        async with aiohttp.ClientSession() as http:
            for node in nodes.values():
                await until(lambda node=node: node.healthy(http), f"{node.name} to start", 30)

            # 1. every link faulty while crews write on both trucks and HQ
            for proxy in proxies.values():
                proxy.set_mode("faulty")

            async def every_fault_seen():
                for name in names:
                    await create(http, nodes[name], 2 if name != "HQ" else 1, acked)
                seen = _faults(proxies)
                return all(seen[f] >= 2 for f in FAULTS)

            await until(every_fault_seen, "every kind of fault to be injected", DEADLINE_S)

            # 2. T1 cut off from everyone; both keep writing
            for (a, b), proxy in proxies.items():
                if "T1" in (a, b):
                    proxy.set_mode("down")
            refused = _faults(proxies)["refused"]

            async def partition_felt():
                await create(http, nodes["T1"], 2, acked)
                await create(http, nodes["T2"], 2, acked)
                return _faults(proxies)["refused"] >= refused + 3

            await until(partition_felt, "T1 to hit the partition", DEADLINE_S)

            # 3. SIGKILL T2 while bytes of one of its sessions are on the wire
            t2_link = proxies[("T2", "HQ")]
            await create(http, nodes["T2"], 40, acked)
            t2_link.traffic.clear()
            await asyncio.wait_for(t2_link.traffic.wait(), DEADLINE_S)
            nodes["T2"].kill9()
            await create(http, nodes["T1"], 10, acked)
            nodes["T2"].start()
            await until(lambda: nodes["T2"].healthy(http), "T2 to restart", 30)

            # 4. heal: the partition ends, the links stay faulty for a while, then clean
            for proxy in proxies.values():
                proxy.set_mode("faulty")
            await create(http, nodes["T2"], 5, acked)
            for proxy in proxies.values():
                proxy.set_mode("clean")

            async def converged():
                healths = [await node.healthy(http) for node in nodes.values()]
                if any(h is None for h in healths):
                    return None
                vectors = [h["origins"] for h in healths]
                total = sum(vectors[0].values())
                if all(v == vectors[0] for v in vectors) and \
                        all(h["incidents"] == len(acked) for h in healths):
                    return vectors[0], total
                return None

            vector, total = await until(converged, "all replicas to converge", DEADLINE_S)
    finally:
        for node in nodes.values():
            node.stop()
        for proxy in proxies.values():
            await proxy.stop()
        for node in nodes.values():
            if node.log_path.exists():
                sys.stderr.write(f"--- {node.name} log tail ---\n"
                                 + node.log_path.read_text()[-3000:])

    faults = _faults(proxies)
    print("faults injected:", dict(faults), "events:", total)
    assert faults["refused"] > 0, faults
    assert all(faults[f] >= 2 for f in FAULTS), faults
    dumps = {n: dump(fleet.dirs[n] / "fieldkit.db") for n in names}
    assert dumps["T1"] == dumps["HQ"] == dumps["T2"], "replicas differ"
    conn = sqlite3.connect(fleet.dirs["HQ"] / "fieldkit.db")
    held = dict(conn.execute("SELECT id, reported_by FROM incidents").fetchall())
    count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    conn.close()
    assert held == acked, "an acknowledged incident is missing, or one appeared from nowhere"
    assert count == total == sum(vector.values())  # no event twice
    assert count == 2 * len(acked)  # each acknowledged create and note, exactly once
