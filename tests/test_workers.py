"""Several API workers over one PostgreSQL database: one port, concurrent truck sessions,
a worker SIGKILLed mid-sync, and the live stream carrying every worker's writes."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import aiohttp
import psycopg
import pytest

from fieldkit.bench.process import NodeProcess, free_port
from fieldkit.config import load_config
from fieldkit.errors import ConfigError
from fieldkit.hq.bench import Truck, prepare_hq, push, simulated_trucks
from fieldkit.workers import check_workers
from tests.waiting import until


def test_several_workers_need_postgresql(tmp_path):
    node_dir = prepare_hq(tmp_path, [], None, 0)
    with pytest.raises(ConfigError, match="PostgreSQL"):
        check_workers(load_config(node_dir), 2)
    check_workers(load_config(node_dir), 1)


async def _stream(url: str, seen: list[tuple[str, int]], total: int) -> None:
    """Read the live stream until ``total`` events came, resuming after a dropped worker."""
    last = "0"
    async with aiohttp.ClientSession() as session:
        while len(seen) < total:
            try:
                async with session.get(f"{url}/api/events/stream",
                                       headers={"Last-Event-ID": last}) as response:
                    async for line in response.content:
                        text = line.decode().strip()
                        if text.startswith("id: "):
                            last = text[4:]
                        elif text.startswith("data: "):
                            wire = json.loads(text[6:])
                            seen.append((wire["origin"], wire["seq"]))
                            if len(seen) == total:
                                return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)


async def _scenario(hq: NodeProcess, trucks: list[Truck]) -> list[tuple[str, int]]:
    total = sum(len(t.events) for t in trucks)
    acknowledged = 0
    seen: list[tuple[str, int]] = []
    async with aiohttp.ClientSession() as session:
        await hq.wait_ready(session)
        stream = asyncio.create_task(_stream(hq.url, seen, total))

        async def truck(t: Truck) -> None:
            nonlocal acknowledged
            for body in t.batches(size=50):
                await push(session, hq.url, body)
                acknowledged += 1

        sessions = asyncio.gather(*(truck(t) for t in trucks))
        await until(lambda: acknowledged >= 10, "the first acknowledged batches")
        victim = hq.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        await sessions
        await until(lambda: len(hq.worker_pids()) == 2 and victim not in hq.worker_pids(),
                    "the supervisor to restart the killed worker")
        await asyncio.wait_for(stream, 60)
    return seen


@pytest.mark.slow
def test_workers_lose_nothing_when_one_is_killed_mid_sync(pg_url, tmp_path):
    trucks = simulated_trucks(4, 2000)
    port = free_port()
    with NodeProcess(prepare_hq(tmp_path, trucks, pg_url, port), 2, port) as hq:
        seen = asyncio.run(_scenario(hq, trucks))
    with psycopg.connect(pg_url) as raw:
        rows = raw.execute("SELECT origin, seq FROM events ORDER BY arrival").fetchall()
    for t in trucks:  # every origin whole, once, in chain order
        assert [s for o, s in rows if o == t.identity.name] == [e.seq for e in t.events]
    assert seen == [tuple(r) for r in rows]  # the stream: every write, in arrival order
