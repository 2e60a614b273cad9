"""Snapshot retention on real SQLite files with real blobs and an injected clock: what
expires, what stays, and what every reader says afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import aiohttp
import pytest

from fieldkit.alerts import Alert, Snapshot, raise_or_update
from fieldkit.config import CONFIG_FILE, Config, load_config
from fieldkit.errors import ConfigError, GoneError, NotFoundError
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.node import Node
from fieldkit.render import incident_detail
from fieldkit.retention import DAY_MS, expire_snapshots
from fieldkit.store import open_node_store
from tests.waiting import until

A = NodeIdentity.generate("T01")
NOW = 1_796_000_000_000  # 2026-11-30
JPEG = b"\xff\xd8\xff\xe0"


def _picture(log: IncidentLog, camera: str, frame: bytes, severity: int = 3) -> str:
    """An analytics incident raised with a snapshot, as the camera pipeline does."""
    outcome = raise_or_update(log, Alert(
        f"camera:{camera}", "density:ramp", "Dense crowd on the ramp", "crowd_density",
        severity, "analytics", "4.8/m² (3.9-5.6), density map"),
        snapshot=Snapshot(JPEG + frame, f"{camera}-1.jpg"))
    return outcome.incident.id


def _hashes(log: IncidentLog) -> list[tuple[str, int, str, str]]:
    return log.store.conn.execute(
        "SELECT origin, seq, hash, payload FROM events ORDER BY arrival").fetchall()


def _held(log: IncidentLog) -> set[str]:
    return {r[0] for r in log.store.conn.execute("SELECT sha256 FROM blobs")}


def test_an_old_snapshot_expires_a_recent_one_stays_and_the_events_keep_their_hashes(make_log):
    clock = [NOW - 30 * DAY_MS]
    log = make_log(A, clock=lambda: clock[0])
    old = _picture(log, "gate3", b"old frame")
    log.set_status(old, "resolved")
    old_open = _picture(log, "gate4", b"open for a month")  # the crew still needs it
    crew = log.create(title="Lost child", kind="lost_person", severity=3)
    log.attach(crew.id, JPEG + b"photo from the parents", "child.jpg", "image/jpeg")
    log.set_status(crew.id, "closed")
    clock[0] = NOW - 2 * DAY_MS
    recent = _picture(log, "gate5", b"recent frame")
    log.set_status(recent, "closed")
    before = _hashes(log)
    old_blob = log.get(old).attachments[0].blob
    log.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the frames are in the file
    log.store.conn.execute("PRAGMA secure_delete = OFF")  # as SQLite builds default (not Debian)

    report = expire_snapshots(log, 7, NOW)

    assert (report.blobs, report.size) == (1, len(JPEG + b"old frame"))
    assert report.cutoff_ms == NOW - 7 * DAY_MS
    assert _hashes(log) == before  # the log is untouched: every event, byte for byte
    assert old_blob not in _held(log)
    for kept in (old_open, recent):
        log.blob(log.get(kept).attachments[0].blob)
    log.blob(log.get(crew.id).attachments[0].blob)  # a crew's own picture is never pruned
    attachment = log.get(old).attachments[0]
    assert (attachment.blob, attachment.expired_at) == (old_blob, NOW)
    assert [a.expired_at for i in log.incidents() for a in i.attachments
            if i.id != old] == [None, None, None]
    with pytest.raises(GoneError, match=rf"image {old_blob} expired on 2026-11-30T\S+Z: "
                       r"snapshots are kept 7 day\(s\) after their incident closes"):
        log.blob(old_blob)
    assert "image expired on 2026-11-30T" in incident_detail(log.get(old))
    # Not asked for again, nor taken back from a peer that keeps it longer.
    assert log.missing_blobs() == []
    log.put_blob(JPEG + b"old frame", "image/jpeg")
    assert old_blob not in _held(log)
    # A second run finds nothing more.
    assert expire_snapshots(log, 7, NOW).blobs == 0
    # The pruned picture's bytes are overwritten in the file, not just unlinked.
    log.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    database = log.store.conn.execute("PRAGMA database_list").fetchone()[2]
    content = open(database, "rb").read()  # noqa: SIM115 (read whole, closed at once)
    assert b"recent frame" in content
    assert b"old frame" not in content


def test_a_frame_shared_with_an_open_incident_stays_until_both_may_go(make_log):
    clock = [NOW - 30 * DAY_MS]
    log = make_log(A, clock=lambda: clock[0])
    frame = b"one frame, two situations"
    first = _picture(log, "gate3", frame)
    second = raise_or_update(log, Alert(
        "camera:gate3", "counter_flow:ramp", "Counter-flow on the ramp", "crowd_flow", 3,
        "analytics"), snapshot=Snapshot(JPEG + frame, "gate3-1.jpg")).incident.id
    log.set_status(first, "resolved")
    assert expire_snapshots(log, 7, NOW).blobs == 0
    log.set_status(second, "resolved")  # at NOW - 30 days
    assert expire_snapshots(log, 7, NOW).blobs == 1
    assert log.get(first).attachments[0].expired_at == NOW


def test_a_closed_incident_keeps_its_pictures_for_the_retention_after_its_last_change(make_log):
    clock = [NOW - 30 * DAY_MS]
    log = make_log(A, clock=lambda: clock[0])
    incident = _picture(log, "gate3", b"frame")
    clock[0] = NOW - 3 * DAY_MS
    log.set_status(incident, "closed")  # open for 27 days, closed 3 days ago
    assert expire_snapshots(log, 7, NOW).blobs == 0
    assert expire_snapshots(log, 2, NOW).blobs == 1


def test_attaching_an_expired_image_again_holds_it_again(make_log):
    clock = [NOW - 30 * DAY_MS]
    log = make_log(A, clock=lambda: clock[0])
    incident = _picture(log, "gate3", b"frame")
    log.set_status(incident, "closed")
    expire_snapshots(log, 7, NOW)
    crew = log.create(title="Review", kind="medical", severity=2)
    log.attach(crew.id, JPEG + b"frame", "kept.jpg", "image/jpeg")
    assert log.blob(log.get(incident).attachments[0].blob)[1] == JPEG + b"frame"
    assert log.get(incident).attachments[0].expired_at is None


@contextmanager
def _node_log(config: Config, clock: Callable[[], int]) -> Iterator[IncidentLog]:
    identity = NodeIdentity.load(config.node.name, config.path(config.node.key_file))
    store = open_node_store(config)
    try:
        yield IncidentLog(store, identity, Keyring.from_names(identity, config.trust.nodes),
                          clock=clock)
    finally:
        store.close()


async def test_a_running_node_prunes_and_its_api_answers_410_gone(config: Config):
    month_ago = NOW - 30 * DAY_MS
    with _node_log(config, lambda: month_ago) as log:
        old = _picture(log, "gate3", b"a month old")
        log.set_status(old, "closed")
        blob = log.get(old).attachments[0].blob
    node = Node(config)
    await node.start()
    try:
        async with aiohttp.ClientSession(node.url) as http:
            async def gone() -> bool:
                async with http.get(f"/api/blobs/{blob}") as r:
                    return r.status == 410

            await until(gone, "the node's retention to prune the image")
            async with http.get(f"/api/blobs/{blob}") as r:
                error = (await r.json())["error"]
            assert f"image {blob} expired on " in error
            assert "cameras.snapshot_retention_days" in error
            async with http.get(f"/api/incidents/{old}") as r:
                attachment = (await r.json())["attachments"][0]
            assert attachment["blob"] == blob
            assert attachment["expired_at"] is not None
            async with http.get("/api/blobs/" + "0" * 64) as r:
                assert r.status == 404  # never held: not found, not gone
    finally:
        await node.stop()


@pytest.mark.parametrize(("value", "message"), [
    ("0", r"cameras.snapshot_retention_days: 0 is invalid: Input should be greater than or "
          r"equal to 0.01"),
    ("-7", r"cameras.snapshot_retention_days: -7 is invalid"),
    ("5000", r"cameras.snapshot_retention_days: 5000 is invalid: Input should be less than "
             r"or equal to 3650"),
    ('"a week"', r"cameras.snapshot_retention_days: 'a week' is invalid"),
])
def test_a_bad_retention_is_refused_by_name(node_dir, value, message):
    path = node_dir / CONFIG_FILE
    path.write_text(path.read_text() + f"\n[cameras]\nsnapshot_retention_days = {value}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(node_dir)


def test_the_default_keeps_a_week(config: Config):
    from fieldkit.analytics.config import CamerasSection

    assert config.section(CamerasSection).snapshot_retention_days == 7


def test_an_unknown_blob_is_not_found_not_gone(make_log):
    with pytest.raises(NotFoundError, match="no blob") as raised:
        make_log(A).blob("0" * 64)
    assert not isinstance(raised.value, GoneError)


def test_expiry_runs_on_postgresql(pg_url):
    from fieldkit.pgstore import PgStore

    clock = [NOW - 30 * DAY_MS]
    log = IncidentLog(PgStore(pg_url), A, Keyring.from_names(A, {}), clock=lambda: clock[0])
    try:
        old = _picture(log, "gate3", b"old frame")
        log.set_status(old, "closed")
        kept = _picture(log, "gate4", b"open")
        assert expire_snapshots(log, 7, NOW).blobs == 1
        blob = log.get(old).attachments[0].blob
        with pytest.raises(GoneError, match="expired on 2026-11-30T"):
            log.blob(blob)
        log.blob(log.get(kept).attachments[0].blob)
        log.put_blob(JPEG + b"old frame", "image/jpeg")
        assert log.missing_blobs() == []
        assert log.get(old).attachments[0].expired_at == NOW
    finally:
        log.store.close()
