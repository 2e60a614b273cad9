"""Anti-entropy sessions over HTTP between real in-process nodes."""

from __future__ import annotations

import asyncio
import contextlib
import random

from fieldkit.errors import SyncError
from fieldkit.log import IncidentLog
from sync.errors import PeerUnreachable
from sync.http import HttpTransport
from sync.protocol import plan
from sync.session import SessionReport


def _create(log: IncidentLog, n: int, severity: int = 2, title: str = "event") -> list[str]:
    return [log.create(title=f"{title} {i}", kind="medical", severity=severity).id
            for i in range(n)]


async def _incidents(running, name):
    log = running.log(name)
    return {i.id: i.model_dump_json() for i in await running.call(name, log.incidents)}


async def test_session_moves_events_both_ways(start_fleet):
    running = await start_fleet(["T1", "T2"])
    await running.call("T1", _create, running.log("T1"), 5)
    await running.call("HQ", _create, running.log("HQ"), 3)
    report = await running.session("T1", "HQ")
    assert (report.pulled, report.pushed, report.rejected) == (3, 5, [])
    assert await running.vector("T1") == await running.vector("HQ") == {"T1": 5, "HQ": 3}
    assert await _incidents(running, "T1") == await _incidents(running, "HQ")
    again = await running.session("T1", "HQ")
    assert (again.pulled, again.pushed) == (0, 0)


async def test_truck_events_reach_hq_through_another_truck(start_fleet):
    running = await start_fleet(["T1", "T2"])
    ids = await running.call("T1", _create, running.log("T1"), 4)
    await running.session("T1", "T2")  # T1 meets T2; T1 never meets HQ
    report = await running.session("T2", "HQ")
    assert report.pushed == 4
    held = await _incidents(running, "HQ")
    assert set(ids) <= set(held)
    assert held == await _incidents(running, "T1")


async def test_hq_sends_a_truck_only_what_scope_allows(start_fleet):
    running = await start_fleet(["T1", "T2"])
    await running.call("T1", _create, running.log("T1"), 2)
    await running.call("HQ", _create, running.log("HQ"), 1)
    await running.session("T1", "HQ")
    report = await running.session("T2", "HQ")
    # HQ offers T2 its own log and HQ's; not T1's (T1 is not fleet-wide).
    assert report.pulled == 1
    assert await running.vector("T2") == {"HQ": 1}


async def test_most_urgent_first_as_far_as_chains_allow(start_fleet):
    running = await start_fleet(["T1", "T2"])
    t1, t2 = running.log("T1"), running.log("T2")
    await running.call("T1", _create, t1, 3, 1, "minor")
    urgent = (await running.call("T2", _create, t2, 1, 5, "mass casualty"))[0]
    await running.call("T2", _create, t2, 2, 1, "minor")
    await running.session("T2", "T1")  # T1 now holds both chains
    events = await running.call("T1", plan, t1, {}, lambda origin: True, 10)
    assert events[0].incident == urgent
    for origin in ("T1", "T2"):
        seqs = [e.seq for e in events if e.origin == origin]
        assert seqs == sorted(seqs) == list(range(1, len(seqs) + 1))


class _CutAfter:
    """A transport that lets ``n`` calls through, then fails as a cut link would."""

    def __init__(self, inner, n):
        self.inner, self.n = inner, n
        self.peer, self.url = inner.peer, inner.url

    def __getattr__(self, name):
        method = getattr(self.inner, name)

        async def call(*args):
            if self.n <= 0:
                raise PeerUnreachable("link cut")
            self.n -= 1
            return await method(*args)

        return call


async def test_cut_session_resumes_without_loss_or_duplicate(start_fleet):
    running = await start_fleet(["T1"], sync={"batch_events": 7})
    await running.call("T1", _create, running.log("T1"), 40)
    await running.call("HQ", _create, running.log("HQ"), 30)
    for cut in (2, 4, 6, 9):  # hello, then some pulls / pushes, then the link drops
        with contextlib.suppress(PeerUnreachable):
            await running.engine("T1").run_session(_CutAfter(running.transport("T1", "HQ"), cut))
    final: SessionReport = await running.session("T1", "HQ")
    assert final.rejected == []
    assert await running.vector("T1") == await running.vector("HQ") == {"T1": 40, "HQ": 30}
    for name in ("T1", "HQ"):
        stats = await running.call(name, running.log(name).stats)
        assert stats["events"] == 70  # nothing lost, nothing twice
    assert await _incidents(running, "T1") == await _incidents(running, "HQ")


async def test_blobs_follow_events_within_the_budget(start_fleet):
    running = await start_fleet(["T1"], sync={"blob_budget_bytes": 3000})
    log = running.log("T1")
    ids = await running.call("T1", _create, log, 3)
    for n, incident in enumerate(ids):
        await running.call("T1", log.attach, incident, bytes([n]) * 2000, f"s{n}.jpg",
                           "image/jpeg")
    first = await running.session("T1", "HQ")
    assert first.pushed == 6
    assert first.blobs_out == 1  # 2000 bytes fit the budget of 3000, a second does not
    assert len(await running.call("HQ", running.log("HQ").missing_blobs)) == 2
    await running.session("T1", "HQ")
    await running.session("T1", "HQ")
    assert await running.call("HQ", running.log("HQ").missing_blobs) == []
    digest = (await running.call("T1", log.get, ids[2])).attachments[0].blob
    assert (await running.call("HQ", running.log("HQ").blob, digest))[1] == bytes([2]) * 2000


class _CutProxy:
    """Forwards to ``port`` and cuts the connection once ``limit`` bytes (both ways
    together) have passed: a link that dies at an exact byte."""

    def __init__(self, port):
        self.port, self.limit, self.passed = port, None, 0

    async def start(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def stop(self):
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader, writer):
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.port)

        async def pipe(src, dst):
            try:
                while chunk := await src.read(1024):
                    if self.limit is not None:
                        chunk = chunk[:max(0, self.limit - self.passed)]
                    self.passed += len(chunk)
                    dst.write(chunk)
                    await dst.drain()
                    if self.limit is not None and self.passed >= self.limit:
                        break
            except OSError:
                pass
            for w in (writer, up_w):
                w.transport.abort()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))


async def test_a_cut_at_any_byte_loses_and_duplicates_nothing(start_fleet):
    running = await start_fleet(["T1"], sync={"batch_events": 5})
    proxy = _CutProxy(running.nodes["HQ"].port)
    await proxy.start()
    engine = running.engine("T1")
    transport = HttpTransport(running.http, proxy.url, "HQ", engine.trust.identity,
                              engine.trust)
    rng = random.Random(11)
    try:
        for _ in range(40):
            await running.call("T1", _create, running.log("T1"), 3, rng.randint(1, 5))
            await running.call("HQ", _create, running.log("HQ"), 2, rng.randint(1, 5))
            proxy.passed, proxy.limit = 0, rng.randint(0, 9000)
            with contextlib.suppress(SyncError):
                await engine.run_session(transport)
            for name in ("T1", "HQ"):
                stats = await running.call(name, running.log(name).stats)
                assert stats["events"] == sum(stats["origins"].values())  # no duplicate
                assert stats["rejected"] == 0
        proxy.limit = None
        await engine.run_session(transport)
    finally:
        await proxy.stop()
    assert await running.vector("T1") == await running.vector("HQ") == {"T1": 120, "HQ": 80}
    assert await _incidents(running, "T1") == await _incidents(running, "HQ")


async def test_open_incidents_go_before_closed_ones(start_fleet):
    running = await start_fleet(["T1", "T2"])
    t1, t2 = running.log("T1"), running.log("T2")

    def closed_severe(log):
        incident = log.create(title="Fire out", kind="fire", severity=5)
        log.set_status(incident.id, "closed")
        return incident.id

    closed = await running.call("T1", closed_severe, t1)
    minor_open = (await running.call("T2", _create, t2, 1, 1, "open minor"))[0]
    await running.session("T2", "T1")
    events = await running.call("T1", plan, t1, {}, lambda origin: True, 10)
    assert [e.incident for e in events] == [minor_open, closed, closed]


class _Ingests:
    """HQ's real store worker, noting which calls went through its ingest slots."""

    def __init__(self, worker) -> None:
        self.worker, self.log, self.ingested = worker, worker.log, []

    async def call(self, fn, *args, **kwargs):
        return await self.worker.call(fn, *args, **kwargs)

    async def ingest(self, fn, *args, **kwargs):
        self.ingested.append(fn.__name__)
        return await self.worker.ingest(fn, *args, **kwargs)


async def test_a_pushed_batch_takes_an_ingest_slot(start_fleet):
    """A truck's push is a bulk write like a posted batch: it waits for one of the few
    ingest slots, so consoles' reads never queue behind a fleet's sync, and is inflated
    and parsed there too (_apply_batch), not on the event loop."""
    from sync.session import SyncEngine

    running = await start_fleet(["T1"])
    await running.call("T1", _create, running.log("T1"), 3)
    batch = await running.engine("T1").pull("HQ", {"vector": {}})
    hq = running.engine("HQ")
    runner = _Ingests(running.nodes["HQ"].worker)
    report = await SyncEngine(runner, hq.trust, hq.settings).push("T1", batch)
    assert (report["applied"], runner.ingested) == (3, ["_apply_batch"])
