"""Background jobs run once per database: real ``fieldkit node run --workers 2`` over a real
PostgreSQL, observed through a background job that leaves the process (the CoT sender, read
back by takproto on a loopback multicast group). The worker holding the role is SIGKILLed:
the role moves and alerts still go out once."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import socket

import aiohttp
import psycopg
import pytest

from fieldkit.background import LOCK_KEY
from fieldkit.bench.process import NodeProcess, free_port
from fieldkit.hq.bench import prepare_hq
from fieldkit.hq.cot import MARKER, incident_uid
from tests.hq.hqhelp import LAT0, LON0, cot_receiver, free_udp_port, parse_cot
from tests.waiting import until


def _holder(pg_url: str) -> int | None:
    """The pid of the process holding the background role (its lock session's
    application_name says), None when no one holds it."""
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted"
            " AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
            (LOCK_KEY,)).fetchone()
    return None if row is None else int(row[0].split()[2].split("@")[0])


class Markers:
    """Counts the CoT markers each incident got."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.counts: collections.Counter[str] = collections.Counter()

    async def read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            event = parse_cot(await loop.sock_recv(self.sock, 65536))
            if event.type == MARKER:
                self.counts[event.uid] += 1


async def _create(url: str, title: str) -> str:
    # A new connection each time, so the kernel spreads the writes over the workers.
    body = {"title": title, "kind": "fire", "severity": 3,
            "location": {"lat": LAT0, "lon": LON0}}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s, \
            s.post(f"{url}/api/incidents", json=body) as response:
        assert response.status == 201, await response.text()
        return incident_uid((await response.json())["id"])


async def _sent_once(url: str, markers: Markers, titles: list[str]) -> list[str]:
    """Create incidents, then a last one; once the last is seen, every earlier one was sent
    by whatever sent the last (the sender follows the log's order): each exactly once."""
    uids = [await _create(url, title) for title in titles]
    last = await _create(url, "barrier")
    await until(lambda: markers.counts[last], "the last incident's marker")
    assert {uid: markers.counts[uid] for uid in uids} == dict.fromkeys(uids, 1)
    return [*uids, last]


async def _scenario(hq: NodeProcess, pg_url: str, markers: Markers) -> None:
    reading = asyncio.create_task(markers.read())
    try:
        async with aiohttp.ClientSession() as session:
            await hq.wait_ready(session)
        holder = await until(lambda: _holder(pg_url), "a worker to take the background role")
        assert holder in hq.worker_pids()
        before = await _sent_once(hq.url, markers, [f"fire {i}" for i in range(6)])

        os.kill(holder, signal.SIGKILL)
        successor = await until(lambda: (_holder(pg_url) or holder) != holder and _holder(pg_url),
                                "the role to move to another worker")
        assert successor in hq.worker_pids()
        # The new sender starts with the whole picture, once (a TAK client keeps it by uid).
        await until(lambda: all(markers.counts[u] == 2 for u in before),
                    "the new holder's first picture")
        await _sent_once(hq.url, markers, [f"after {i}" for i in range(6)])
        await until(lambda: len(hq.worker_pids()) == 2 and holder not in hq.worker_pids(),
                    "the supervisor to restart the killed worker")
        assert _holder(pg_url) == successor  # a restarted worker does not take it back
        assert max(markers.counts[u] for u in before) == 2
    finally:
        reading.cancel()


@pytest.mark.slow
def test_background_jobs_run_once_and_move_when_their_worker_dies(pg_url, tmp_path):
    port, cot_port = free_port(), free_udp_port()
    node_dir = prepare_hq(tmp_path, [], pg_url, port)
    with (node_dir / "fieldkit.toml").open("a", encoding="utf-8") as toml:
        toml.write(f"\n[hq.cot]\nmulticast = true\nmulticast_port = {cot_port}\n"
                   "multicast_ttl = 0\ninterval_s = 3600\n")
    receiver = cot_receiver(cot_port)
    try:
        with NodeProcess(node_dir, 2, port) as hq:
            asyncio.run(_scenario(hq, pg_url, Markers(receiver)))
    finally:
        receiver.close()


async def test_a_jobs_live_state_is_answered_by_the_holder_whichever_process_is_asked(
        config, pg_url):
    """Two node processes' worth of nodes on one database: the hardware probes run in one;
    /api/hardware asked of the other is forwarded there (same answer, its headers kept).
    Where the holder cannot be asked, the 503 says where the probes run instead of
    answering "disabled"."""
    from fieldkit.background import FORWARDED, ROLE
    from fieldkit.hardware.config import HardwareSection
    from fieldkit.node import Node

    both = config.model_copy(update={
        "store": config.store.model_copy(update={"url": pg_url}),
        "hardware": HardwareSection(health=True)})
    nodes = [Node(both), Node(both)]
    for node in nodes:
        await node.start()
    try:
        (holder,) = await until(lambda: [n for n in nodes if n._app[ROLE].held] or None,
                                "one node to run the probes")
        (other,) = [n for n in nodes if n is not holder]
        await until(lambda: other._app[ROLE].holder_port == holder._app[ROLE].private_port,
                    "the other node to find the holder's private port")
        async with aiohttp.ClientSession() as http:
            answers = []
            for node in (holder, other):
                async with http.get(f"{node.url}/api/hardware") as response:
                    answers.append((response.status, await response.json()))
            assert [status for status, _ in answers] == [200, 200]
            assert answers[1][1]["health"] == answers[0][1]["health"]
            assert answers[0][1]["health"]["state"] != "disabled"
            # The browser guard still judges a forwarded request by its own headers.
            async with http.get(f"{other.url}/api/hardware",
                                headers={"Host": "evil.example"}) as response:
                assert response.status == 403
            # A request forwarded once is not forwarded again: the other process answers
            # for itself, saying where the probes run.
            async with http.get(f"{other.url}/api/hardware",
                                headers={FORWARDED: "1"}) as response:
                assert response.status == 503
                error = await response.json()
        assert "runs in the process that holds this node's background role" in error["error"]
    finally:
        for node in nodes:
            await node.stop()


@pytest.mark.slow
async def test_the_role_is_dropped_while_the_database_is_down_and_taken_again(config):
    """A holder whose lock session breaks stops its jobs (another process may hold the
    lock by then) and takes the role again once the database is back."""
    from fieldkit.hardware.config import HardwareSection
    from fieldkit.hardware.service import HARDWARE
    from fieldkit.node import Node
    from fieldkit.pgserver import TempPostgres

    with TempPostgres() as server:
        node = Node(config.model_copy(update={
            "store": config.store.model_copy(update={"url": server.create_database()}),
            "hardware": HardwareSection(health=True)}))
        await node.start()
        try:
            assert node._app is not None
            probes = node._app[HARDWARE]
            await until(lambda: probes.value is not None, "the node to take the role")
            await asyncio.to_thread(server.stop, "immediate")
            await until(lambda: probes.value is None, "the probes stopped with the lock lost")
            await asyncio.to_thread(server.start)
            await until(lambda: probes.value is not None, "the role taken again")
        finally:
            await node.stop()
