"""`fieldkit bench sync` parts (d) and (e): how long an incident takes to reach HQ, with
real nodes (HTTP servers on 127.0.0.1, background sync schedulers), directly from truck A
and relayed through truck B.

(d) **commit -> HQ**, links up: an incident posted to A's API, until HQ's store holds it,
    with push-on-write against the interval-only scheduling it replaced (baseline), the
    same fleet procedure and the same interval in both arms.
(e) **link up -> HQ**: an incident committed on A while its link is down, from the link
    coming up until HQ holds it (backoff decides this one).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from fieldkit.config import Config, load_config
from fieldkit.errors import SyncError
from fieldkit.node import Node
from sync.config import SyncPeer, SyncSection
from sync.peerstate import peer_record
from sync.provision import provision_fleet

INTERVAL_S = 1.0
BACKOFF_MAX_S = 2.0
_POLL_S = 0.005  # how often the bench looks at HQ's store (bounds the figures' resolution)
_MODES = ("direct", "relayed")


def spread(times: list[float]) -> dict[str, Any]:
    """Median, 95th percentile and worst of ``times`` (seconds)."""
    p95 = statistics.quantiles(times, n=20, method="inclusive")[18] if len(times) > 1 \
        else times[0]
    return {"median": statistics.median(times), "p95": p95, "worst": max(times),
            "runs": times}


# --- (d) -----------------------------------------------------------------------------------


async def commit_latency(root: Path, samples: int, seed: int = 4) -> dict[str, Any]:
    """Part (d): per arm (``interval_only``, ``push_on_write``) and path, the spread of
    commit-on-A -> in-HQ's-store over ``samples`` incidents."""
    rng = random.Random(seed)  # noqa: S311 (when to commit, not security)
    out: dict[str, Any] = {"interval_s": INTERVAL_S, "samples": samples}
    for arm, push in (("interval_only", False), ("push_on_write", True)):
        out[arm] = {}
        for mode in _MODES:
            async with _fleet(root / f"{arm}-{mode}", mode, push) as (a, hq, peer):
                await _until_met(a, peer)
                times = []
                for i in range(samples):
                    # A random phase against the schedulers' interval, as a crew's
                    # writes have: the baseline's figure depends on it.
                    await asyncio.sleep(rng.uniform(0, INTERVAL_S))
                    times.append(await _commit_to_hq(a, hq, i))
            out[arm][mode] = spread(times)
    for mode in _MODES:
        out[f"{mode}_ratio"] = (out["push_on_write"][mode]["median"]
                                / out["interval_only"][mode]["median"])
    return out


async def _commit_to_hq(a: Node, hq: Node, i: int) -> float:
    started = time.monotonic()
    async with aiohttp.ClientSession() as http, http.post(
            a.url + "/api/incidents",
            json={"title": f"Person down near pillar {i}", "kind": "person_down",
                  "severity": 5}) as response:
        if response.status != 201:
            raise SyncError(f"A refused the incident: {response.status} "
                            f"{await response.text()}")
        incident = (await response.json())["id"]
    while not await hq.worker.call(hq.worker.log.triage, [incident]):
        await asyncio.sleep(_POLL_S)  # polling HQ's store
    return time.monotonic() - started


async def _until_met(a: Node, peer: str) -> None:
    """Until A's scheduler has finished its first session with ``peer`` (which would
    otherwise carry the first incident whatever the arm)."""
    while (record := await a.worker.call(peer_record, a.worker.log, peer)) is None \
            or record.last_contact is None:
        await asyncio.sleep(0.01)  # polling A's store


# --- (e) -----------------------------------------------------------------------------------


async def link_latency(root: Path, runs: int) -> dict[str, Any]:
    """Part (e): seconds from A's link coming up to A's incident being in HQ's store."""
    out: dict[str, Any] = {"interval_s": INTERVAL_S, "backoff_max_s": BACKOFF_MAX_S}
    for mode in _MODES:
        times = [await _link_up_to_hq(root / f"link-{mode}{i}", mode) for i in range(runs)]
        out[mode] = spread(times)
    return out


async def _link_up_to_hq(root: Path, mode: str) -> float:
    link = _Link()
    async with _fleet(root, mode, True, link) as (a, hq, peer):
        incident = await a.worker.call(a.worker.log.create, title="Person down near pillar 7",
                                       kind="person_down", severity=5)
        while (record := await a.worker.call(peer_record, a.worker.log, peer)) is None \
                or record.failures < 2:
            await asyncio.sleep(0.01)  # until A's scheduler has met the dead link twice
        started = time.monotonic()
        link.set(True)
        while not await hq.worker.call(hq.worker.log.triage, [incident.id]):
            await asyncio.sleep(_POLL_S)  # polling HQ's store
        return time.monotonic() - started


class _Link:
    """A TCP forwarder on 127.0.0.1 that can be cut and restored: a radio link."""

    def __init__(self) -> None:
        self.target, self.port, self.up = 0, 0, False
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self, target: int) -> None:
        self.target = target
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


# --- the fleet -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _fleet(root: Path, mode: str, push_on_write: bool, link: _Link | None = None
                 ) -> AsyncIterator[tuple[Node, Node, str]]:
    """HQ, and truck A syncing with HQ (direct) or with truck B, which syncs with HQ
    (relayed); A reaches its peer through ``link`` when given. Yields (A, HQ, A's peer)."""
    dirs = provision_fleet(root, ["A", "B"], sync={"enabled": False})
    nodes: list[Node] = []
    try:
        hq = Node(port0(load_config(dirs["HQ"])))
        await hq.start()
        nodes.append(hq)
        target, peer = hq, "HQ"
        if mode == "relayed":  # B is linked to HQ; A only ever meets B
            target, peer = Node(_with_peers(load_config(dirs["B"]), {"HQ": hq.url},
                                            push_on_write)), "B"
            await target.start()
            nodes.append(target)
        url = target.url
        if link is not None:
            await link.start(target.port)
            url = f"http://127.0.0.1:{link.port}"
        a = Node(_with_peers(load_config(dirs["A"]), {peer: url}, push_on_write))
        await a.start()
        nodes.append(a)
        yield a, hq, peer
    finally:
        for node in reversed(nodes):
            await node.stop()
        if link is not None:
            await link.stop()


def port0(config: Config) -> Config:
    """``config`` with the API on any free port."""
    return config.model_copy(update={"api": config.api.model_copy(update={"port": 0})})


def _with_peers(config: Config, peers: dict[str, str], push_on_write: bool) -> Config:
    sync = config.section(SyncSection).model_copy(update={
        "enabled": True, "interval_s": INTERVAL_S, "backoff_max_s": BACKOFF_MAX_S,
        "push_on_write": push_on_write,
        "peers": [SyncPeer(name=n, url=u) for n, u in peers.items()]})
    return port0(config).model_copy(update={"sync": sync})
