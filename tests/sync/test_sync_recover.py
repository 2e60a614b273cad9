"""`fieldkit recover` (issue 14 item 3): a truck whose database has a damaged page is
rebuilt from a real HQ node (aiohttp on 127.0.0.1, the signed sync protocol), from a
bundle and from what the damaged file still holds; its incident view is identical, its
chain resumes where it ended, and bad input changes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from damage import damage_a_page
from nodeproc import node_process
from syncfleet import make_fleet

from fieldkit.cli import main
from fieldkit.errors import StoreError
from fieldkit.node import Node
from fieldkit.salvage import salvage
from sync.errors import AuthError, BundleError, PeerUnreachable
from sync.provision import open_node
from sync.recover import recover

SNAPSHOT = b"\xff\xd8 a snapshot of gate 3"


async def _truck_with_history(start_fleet, unsynced: int = 0):
    """truck1 holds 120 incidents of its own and HQ's notes on them (synced both ways),
    then ``unsynced`` more that HQ never received; truck1 is stopped."""
    fleet = await start_fleet(["truck1"])
    truck, hq = fleet.log("truck1"), fleet.log("HQ")
    made = [await fleet.call("truck1", truck.create, title=f"crush risk {i}", kind="crowd_density",
                             severity=3 + i % 3) for i in range(120)]
    for incident in made[:40]:
        await fleet.call("truck1", truck.add_note, incident.id, "barriers moved")
    await fleet.call("truck1", truck.attach, made[0].id, SNAPSHOT, "gate.jpg", "image/jpeg")
    await fleet.session("truck1", "HQ")
    for incident in made[::10]:
        await fleet.call("HQ", hq.add_note, incident.id, "HQ: second unit on its way")
    await fleet.session("truck1", "HQ")
    for i in range(unsynced):
        await fleet.call("truck1", truck.create, title=f"unsynced {i}", kind="medical",
                         severity=2)
    await fleet.nodes["truck1"].stop()
    return fleet


def _view(config) -> tuple[list[str], dict[str, int]]:
    with open_node(config) as (log, _):
        return ([i.model_dump_json() for i in log.incidents()], log.version_vector())


async def _cli(args: list[str]):
    """`fieldkit ARGS` in a thread: the in-process nodes keep serving meanwhile."""
    return await asyncio.to_thread(CliRunner().invoke, main, args)


def _files(node_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in node_dir.iterdir() if p.is_file()}


async def test_a_damaged_truck_is_rebuilt_from_hq_with_an_identical_view(start_fleet,
                                                                         tmp_path):
    fleet = await _truck_with_history(start_fleet)
    config = fleet.fleet.config("truck1")
    path = config.path(config.node.database)
    before, vector = _view(config)
    damage_a_page(path, "blobs")
    damage_a_page(path, "events")
    damaged = path.read_bytes()
    with pytest.raises(StoreError, match="is damaged"):
        await Node(config).start()

    report = await recover(config, [("HQ", fleet.nodes["HQ"].url)], [])

    assert _view(config) == (before, vector)
    with open_node(config) as (log, _):
        assert log.blob(hashlib.sha256(SNAPSHOT).hexdigest())[1] == SNAPSHOT
    assert report.aside is not None
    assert salvage(report.aside, tmp_path / "copy").blobs == []  # so it came from HQ
    assert (report.own_seq, report.lost_own) == (vector["truck1"], 0)
    assert report.aside is not None
    assert report.aside.read_bytes() == damaged
    assert report.aside.name.startswith("fieldkit.db.damaged-")
    assert report.unreadable > 0  # the damaged page's rows came back from HQ
    # The chain resumes after the recovered head: HQ takes the next event, no fork.
    node = Node(config)
    await node.start()
    try:
        log = node.worker.log
        new = await node.worker.call(log.create, title="after recovery", kind="crowd_density",
                                     severity=3)
        assert (await node.worker.call(log.events_of, new.id))[0].seq == vector["truck1"] + 1
        fleet.nodes["truck1"] = node
        pushed = await fleet.session("truck1", "HQ")
        assert (pushed.pushed, pushed.rejected) == (1, [])
    finally:
        await node.stop()


async def test_events_hq_never_got_come_back_from_the_damaged_file(start_fleet):
    """A damaged incidents page: the events table still reads, so truck1's 7 unsynced
    events come back from it (verified), and HQ gets them at the next session."""
    fleet = await _truck_with_history(start_fleet, unsynced=7)
    config = fleet.fleet.config("truck1")
    before, vector = _view(config)
    damage_a_page(config.path(config.node.database), "incidents")

    report = await recover(config, [("HQ", fleet.nodes["HQ"].url)], [])

    assert (report.salvaged, report.lost_own) == (7, 0)
    assert _view(config) == (before, vector)


async def test_a_file_that_is_not_a_database_any_more_says_loss_is_unknown(start_fleet):
    fleet = await _truck_with_history(start_fleet)
    config = fleet.fleet.config("truck1")
    path = config.path(config.node.database)
    before, vector = _view(config)
    path.write_bytes(b"\0" * 100 + path.read_bytes()[100:])  # its header is gone

    report = await recover(config, [("HQ", fleet.nodes["HQ"].url)], [])

    assert _view(config) == (before, vector)
    assert "the damaged file's events could not be read (file is not a database): this " \
           "node's events that no source held are lost, and how many is unknown" \
        in report.lines()


async def test_newest_events_held_nowhere_are_refused_as_lost_unless_accepted(start_fleet):
    """The last events page is damaged and HQ lacks the unsynced tail: recover says how
    many of this node's events are lost (the incident states name them) and changes
    nothing; with accept_loss it rebuilds and says so."""
    fleet = await _truck_with_history(start_fleet, unsynced=30)
    config = fleet.fleet.config("truck1")
    node_dir = config.path(config.node.database).parent
    _, vector = _view(config)
    damage_a_page(config.path(config.node.database), "events", last=True)
    files = _files(node_dir)

    with pytest.raises(StoreError, match=r"this node's own events \d+\.\.\d+ \(\d+\) were "
                                         r"issued here .* nothing was changed"):
        await recover(config, [("HQ", fleet.nodes["HQ"].url)], [])
    assert _files(node_dir) == files

    report = await recover(config, [("HQ", fleet.nodes["HQ"].url)], [], accept_loss=True)
    assert report.lost_own > 0
    assert report.own_seq + report.lost_own == vector["truck1"]
    assert any(line.startswith(f"LOST: {report.lost_own} event(s)") for line in report.lines())


async def test_a_truck_is_rebuilt_from_another_truck(start_fleet):
    """Trucks share everything they hold: truck2 gives truck1 back its own log and HQ's
    (trusted through the roster read back from the damaged file)."""
    fleet = await start_fleet(["truck1", "truck2"])
    truck = fleet.log("truck1")
    for i in range(50):
        await fleet.call("truck1", truck.create, title=f"fight {i}", kind="fight", severity=4)
    await fleet.session("truck1", "HQ")
    await fleet.session("truck2", "HQ")  # HQ's log reaches truck2 ...
    await fleet.session("truck1", "truck2")  # ... and truck1's log too
    await fleet.nodes["truck1"].stop()
    config = fleet.fleet.config("truck1")
    before, vector = _view(config)
    damage_a_page(config.path(config.node.database), "events")

    report = await recover(config, [("truck2", fleet.nodes["truck2"].url)], [])

    assert report.sources[0].startswith(f"from truck2 ({fleet.nodes['truck2'].url}): "
                                        "truck2: pulled ")
    assert _view(config) == (before, vector)


async def test_a_truck_is_rebuilt_from_a_bundle(start_fleet, tmp_path):
    fleet = await _truck_with_history(start_fleet)
    config = fleet.fleet.config("truck1")
    before, vector = _view(config)
    bundle = tmp_path / "hq.bundle"
    # Everything HQ holds (--for would leave out what truck1 held at its last contact).
    result = await _cli(["sync", "export", "-o", str(bundle), "--dir",
                         str(fleet.fleet.dirs["HQ"])])
    assert result.exit_code == 0, result.output
    damage_a_page(config.path(config.node.database), "events")
    # What a recover killed while building leaves: redone from scratch.
    (fleet.fleet.dirs["truck1"] / "fieldkit.db.rebuilt").write_bytes(b"half-built")
    result = await _cli(["recover", "--bundle", str(bundle), "--dir",
                         str(fleet.fleet.dirs["truck1"])])
    assert result.exit_code == 0, result.output
    assert f"from bundle {bundle} (by HQ)" in result.output
    assert f"this node's chain resumes at seq {vector['truck1'] + 1}" in result.output
    assert _view(config) == (before, vector)


async def test_bad_sources_and_a_running_node_change_nothing(start_fleet, tmp_path):
    fleet = await _truck_with_history(start_fleet)
    config = fleet.fleet.config("truck1")
    node_dir = fleet.fleet.dirs["truck1"]
    damage_a_page(config.path(config.node.database), "events")
    files = _files(node_dir)
    with pytest.raises(PeerUnreachable, match=r"HQ at http://127\.0\.0\.1:9: "):
        await recover(config, [("HQ", "http://127.0.0.1:9")], [])
    assert _files(node_dir) == files
    bad = tmp_path / "bad.bundle"
    bad.write_bytes(b"FIELDKIT-BUNDLE 1\n" + hashlib.sha256(b"x").digest())
    with pytest.raises(BundleError, match=f"bundle {bad} is damaged: .*nothing was changed"):
        await recover(config, [], [bad])
    assert _files(node_dir) == files

    # HQ revokes truck1 in the roster: it no longer answers truck1's pulls.
    result = await _cli(["sync", "roster", "revoke", "truck1", "--dir",
                         str(fleet.fleet.dirs["HQ"])])
    assert result.exit_code == 0, result.output
    await fleet.engine("HQ").refresh_roster()
    with pytest.raises(AuthError, match="HQ refused us"):
        await recover(config, [("HQ", fleet.nodes["HQ"].url)], [])
    assert _files(node_dir) == files


async def test_a_running_node_refuses_recover(start_fleet):
    fleet = await start_fleet(["truck1"])
    config = fleet.fleet.config("truck1")
    with pytest.raises(StoreError, match=r"is in use .*: stop the node first"):
        await recover(config, [("HQ", fleet.nodes["HQ"].url)], [])


async def test_an_intact_database_is_not_rebuilt(start_fleet):
    fleet = await start_fleet(["truck1"])
    await fleet.nodes["truck1"].stop()
    config = fleet.fleet.config("truck1")
    result = await _cli(["recover", "--from", "HQ=" + fleet.nodes["HQ"].url,
                                       "--dir", str(fleet.fleet.dirs["truck1"])])
    assert result.exit_code == 1
    assert f"database {config.path(config.node.database)} passed SQLite's integrity " \
           "check: nothing to recover" in result.output


def _fieldkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fieldkit.cli", *args], capture_output=True,
                          text=True, timeout=120)


def _incidents(url: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/api/incidents", timeout=10) as response:
        return json.load(response)


@pytest.mark.slow
def test_recover_between_real_node_processes(tmp_path):
    """HQ and the truck as `fieldkit node run` processes, `fieldkit recover` as a command:
    refused while the truck runs; after a damaged page, the truck's API shows the same
    incidents as before."""
    fleet = make_fleet(tmp_path, ["truck1"])
    truck_dir = fleet.dirs["truck1"]
    with open_node(fleet.config("truck1")) as (log, _):
        for i in range(60):
            log.create(title=f"gate {i} overcrowded", kind="crowd_density", severity=4)
    with node_process(fleet.dirs["HQ"]) as hq:
        synced = _fieldkit("sync", "now", "HQ", "--url", hq.url, "--dir", str(truck_dir))
        assert synced.returncode == 0, synced.stderr
        with node_process(truck_dir) as truck:
            before = _incidents(truck.url)
            refused = _fieldkit("recover", "--from", f"HQ={hq.url}", "--dir", str(truck_dir))
            assert refused.returncode == 1
            assert "is in use (a running node" in refused.stderr
            truck.proc.send_signal(signal.SIGTERM)
            assert truck.proc.wait(timeout=30) == 0
        damage_a_page(truck_dir / "fieldkit.db", "events")
        done = _fieldkit("recover", "--from", f"HQ={hq.url}", "--dir", str(truck_dir))
        assert done.returncode == 0, done.stderr
        assert "this node's chain resumes at seq 61" in done.stdout
    with node_process(truck_dir) as truck:
        assert _incidents(truck.url) == before


@pytest.mark.slow
def test_a_recover_killed_midway_leaves_the_node_as_it_was(tmp_path):
    """SIGKILL while recover waits on a peer (a link that accepts and never answers): the
    damaged database is untouched, the node still refuses it as damaged (not half
    swapped), and the next recover finishes the job."""
    fleet = make_fleet(tmp_path, ["truck1"])
    truck_dir = fleet.dirs["truck1"]
    with open_node(fleet.config("truck1")) as (log, _):
        for i in range(40):
            log.create(title=f"gate {i} overcrowded", kind="crowd_density", severity=4)
        before = [i.model_dump_json() for i in log.incidents()]
    with node_process(fleet.dirs["HQ"]) as hq:
        synced = _fieldkit("sync", "now", "HQ", "--url", hq.url, "--dir", str(truck_dir))
        assert synced.returncode == 0, synced.stderr
        damage_a_page(truck_dir / "fieldkit.db", "events")
        damaged = (truck_dir / "fieldkit.db").read_bytes()
        with socket.socket() as stall:
            stall.bind(("127.0.0.1", 0))
            stall.listen()
            stall.settimeout(60)
            recovering = subprocess.Popen(
                [sys.executable, "-m", "fieldkit.cli", "recover", "--from",
                 f"HQ=http://127.0.0.1:{stall.getsockname()[1]}", "--dir", str(truck_dir)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                connection, _ = stall.accept()  # recover is in its session now
                connection.close()
            finally:
                recovering.kill()
                recovering.wait()
        assert (truck_dir / "fieldkit.db").read_bytes() == damaged
        assert not (truck_dir / "fieldkit.db.swap").exists()
        assert not (truck_dir / "fieldkit.db-wal").exists()
        refused = _fieldkit("node", "run", "--dir", str(truck_dir))
        assert refused.returncode == 1
        assert f"database {truck_dir / 'fieldkit.db'} is damaged (" in refused.stderr
        done = _fieldkit("recover", "--from", f"HQ={hq.url}", "--dir", str(truck_dir))
        assert done.returncode == 0, done.stderr
    with open_node(fleet.config("truck1")) as (log, _):
        assert [i.model_dump_json() for i in log.incidents()] == before
