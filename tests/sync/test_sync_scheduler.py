"""Background sync (scheduler with backoff), zeroconf discovery on loopback, and the
`sync now` / `sync status` commands against real nodes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner
from syncfleet import free_port, make_fleet, open_node_log
from waiting import until

from fieldkit.cli import main
from fieldkit.config import Config
from fieldkit.node import Node
from sync.peerstate import peer_record

FIELDKIT = str(Path(sys.executable).with_name("fieldkit"))


@contextlib.asynccontextmanager
async def _running(*configs: Config) -> AsyncIterator[list[Node]]:
    """Nodes started in order, stopped in reverse."""
    nodes: list[Node] = []
    try:
        for config in configs:
            nodes.append(Node(config))
            await nodes[-1].start()
        yield nodes
    finally:
        for node in reversed(nodes):
            await node.stop()


async def _holds(node: Node, incident: str) -> bool:
    return bool(await node.worker.call(node.worker.log.triage, [incident]))


async def test_background_sync_backs_off_then_delivers_when_hq_appears(tmp_path):
    port = free_port()
    fleet = make_fleet(tmp_path, ["T1"], sync={"enabled": True, "interval_s": 0.1,
                                               "backoff_max_s": 0.5},
                       hq_urls={"T1": f"http://127.0.0.1:{port}"})
    t1 = Node(fleet.config("T1"))
    hq_config = fleet.config("HQ")
    hq = Node(hq_config.model_copy(update={"api": hq_config.api.model_copy(
        update={"port": port})}))
    await t1.start()
    try:
        incident = await t1.worker.call(t1.worker.log.create, title="Fire in tent 9",
                                        kind="fire", severity=4)

        async def failed_twice():
            record = await t1.worker.call(peer_record, t1.worker.log, "HQ")
            return record is not None and record.failures >= 2

        await until(failed_twice, "T1 to fail to reach HQ twice")
        record = await t1.worker.call(peer_record, t1.worker.log, "HQ")
        assert "HQ at http://127.0.0.1" in record.last_error
        await hq.start()  # the link comes up
        await until(lambda: _holds(hq, incident.id), "HQ to receive T1's incident")
        await until(lambda: _contact(t1), "T1 to record the contact")
        async with aiohttp.ClientSession() as http, \
                http.get(t1.url + "/api/sync/status") as response:
            status = await response.json()
        assert status["node"] == "T1"
        assert [p["peer"] for p in status["peers"]] == ["HQ"]
        assert status["peers"][0]["failures"] == 0
    finally:
        await t1.stop()
        await hq.stop()


async def _contact(t1: Node) -> bool:
    record = await t1.worker.call(peer_record, t1.worker.log, "HQ")
    return record is not None and record.failures == 0 and record.last_contact is not None


async def _met(node: Node, peer: str) -> bool:
    record = await node.worker.call(peer_record, node.worker.log, peer)
    return record is not None and record.last_contact is not None


async def test_a_write_is_pushed_at_once_not_at_the_interval(tmp_path):
    """With an hour between sessions, only the write can have started the push."""
    ports = {"HQ": free_port()}
    fleet = make_fleet(tmp_path, ["T1"], ports=ports, sync={"enabled": True,
                                                             "interval_s": 3600},
                       hq_urls={"T1": f"http://127.0.0.1:{ports['HQ']}"})
    async with _running(fleet.config("HQ"), fleet.config("T1")) as (hq, t1):
        await until(lambda: _met(t1, "HQ"), "T1's first session with HQ")
        async with aiohttp.ClientSession() as http, http.post(
                t1.url + "/api/incidents",
                json={"title": "Crush at gate 4", "kind": "crowd_density",
                      "severity": 5}) as response:
            assert response.status == 201, await response.text()
            incident = (await response.json())["id"]
        await until(lambda: _holds(hq, incident), "HQ to receive T1's new incident")


async def test_a_relay_forwards_what_it_receives_at_once(tmp_path):
    """T1 -> T2 -> HQ with an hour between sessions: T2 pushes what T1's push applied.
    T1's incident is written to its log directly (as `fieldkit incident` in another
    process would), so the node sees it by its live feed's poll."""
    ports = {"HQ": free_port(), "T2": free_port()}
    fleet = make_fleet(tmp_path, ["T1", "T2"], ports=ports,
                       sync={"enabled": True, "interval_s": 3600},
                       peers={"T1": {"T2": f"http://127.0.0.1:{ports['T2']}"}},
                       hq_urls={"T2": f"http://127.0.0.1:{ports['HQ']}"})
    async with _running(*(fleet.config(n) for n in ("HQ", "T2", "T1"))) as (hq, t2, t1):
        await until(lambda: _met(t1, "T2"), "T1's first session with T2")
        await until(lambda: _met(t2, "HQ"), "T2's first session with HQ")
        incident = await t1.worker.call(t1.worker.log.create, title="Person down, pillar 7",
                                        kind="person_down", severity=5)
        await until(lambda: _holds(hq, incident.id), "HQ to receive T1's incident via T2")


async def test_discovery_on_loopback_finds_hq_and_syncs(tmp_path):
    ports = {"HQ": free_port(), "T1": free_port()}
    fleet = make_fleet(tmp_path, ["T1"], ports=ports, sync={
        "enabled": True, "interval_s": 0.1, "backoff_max_s": 0.5, "discovery": True,
        "discovery_interface": "127.0.0.1"})
    async with _running(fleet.config("HQ"), fleet.config("T1")) as (hq, t1):
        incident = await t1.worker.call(t1.worker.log.create, title="Lost child at tent 3",
                                        kind="lost_person", severity=3)
        await until(lambda: _holds(hq, incident.id), "HQ to receive T1's incident")


@pytest.mark.slow
async def test_sync_now_and_status_commands(tmp_path):
    port = free_port()
    fleet = make_fleet(tmp_path, ["T1"], ports={"HQ": port},
                       hq_urls={"T1": f"http://127.0.0.1:{port}"})
    with open_node_log(fleet.config("T1")) as (log, _):
        for i in range(3):
            log.create(title=f"Heat stroke {i}", kind="medical", severity=3)
    before = CliRunner().invoke(main, ["sync", "status", "--dir", str(fleet.dirs["T1"])])
    assert before.exit_code == 0, before.output
    assert "HQ " in before.stdout
    hq = Node(fleet.config("HQ"))
    await hq.start()
    try:
        proc = await asyncio.create_subprocess_exec(
            FIELDKIT, "sync", "now", "HQ", "--dir", str(fleet.dirs["T1"]),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert out.decode().startswith("HQ: pulled 0, pushed 3 events, 0 duplicate(s), "
                                       "0 rejected")
        hq_vector = await hq.worker.call(hq.worker.log.version_vector)
        assert hq_vector == {"T1": 3}
    finally:
        await hq.stop()
    status = CliRunner().invoke(main, ["sync", "status", "--json",
                                       "--dir", str(fleet.dirs["T1"])])
    rows = {r["peer"]: r for r in json.loads(status.stdout)}
    assert rows["HQ"]["pending_out"] == 0
    assert rows["HQ"]["pending_in"] == 0
    assert rows["HQ"]["trust"] == "trusted"
    assert rows["HQ"]["last_contact_s_ago"] is not None
    table = CliRunner().invoke(main, ["sync", "status", "--dir", str(fleet.dirs["T1"])])
    assert "T1 (truck)" in table.stdout
