"""A damaged database (issue 14 item 3): refused at start with what to do, reported by
/api/health, and a read that meets a damaged page is a JSON 503, not a plain 500."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from damage import damage_a_page

from fieldkit.errors import StoreError
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.node import Node
from fieldkit.store import Store
from fieldkit.worker import LogWorker


async def _fill(config, n: int = 300) -> None:
    node = Node(config)
    await node.start()
    try:
        log = node.worker.log
        for i in range(n):
            await node.worker.call(log.create, title=f"incident {i}", kind="medical",
                                   severity=3)
    finally:
        await node.stop()


async def test_a_healthy_node_says_its_store_is_intact(http):
    async with http.get("/api/health") as r:
        assert (await r.json())["integrity"] == "ok"


async def test_a_damaged_store_is_refused_at_start_with_what_to_do(config):
    await _fill(config)
    path = config.path(config.node.database)
    damage_a_page(path)
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        await Node(config).start()
    message = str(info.value)
    assert message.startswith(f"database {path} is damaged (")
    assert "fieldkit will not use it" in message
    assert "run `fieldkit recover --from HQ`" in message
    assert path.read_bytes() == before  # nothing written to it


async def test_a_read_that_meets_damage_is_a_store_error(config):
    """Damage found while running: the API's error middleware turns StoreError into a
    JSON 503 (not sqlite3's plain 500), and health reports it."""
    await _fill(config)
    path = config.path(config.node.database)
    damage_a_page(path)
    identity = NodeIdentity.load(config.node.name, config.path(config.node.key_file))
    store = Store(path)  # opened past the start check, as if the damage came later
    worker = LogWorker(IncidentLog(store, identity, Keyring.from_names(identity, {})),
                       ThreadPoolExecutor(max_workers=1), where=f"database {path}")
    try:
        with pytest.raises(StoreError, match=r"is damaged \(database disk image is malformed"):
            await worker.call(worker.log.incidents)
        assert worker.integrity == "database disk image is malformed"
        assert await worker.check_integrity() != "ok"
    finally:
        await worker.close()
