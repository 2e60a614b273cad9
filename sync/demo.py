"""The demo's fleet: a second truck (T02) and HQ beside the demo truck (T01), syncing on
loopback with background sync, as `fieldkit demo` shows it.

T01 syncs with T02 and HQ; T02 syncs with HQ (it cannot know T01's port, picked at
start); HQ only answers. T02's crew writes incidents of its own (the demo's script), so
T01's board shows them arriving by sync, and HQ ends up holding both trucks' logs.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fieldkit.config import CONFIG_FILE, Config, load_config
from fieldkit.identity import NodeIdentity
from fieldkit.node import Node
from fieldkit.nodedir import init_node_dir
from sync.config import SyncPeer, SyncSection
from sync.peerstate import peer_record
from sync.provision import open_node
from sync.roster import RosterEntry, issue_update, save_roster

SECOND_TRUCK = "T02"
HQ = "HQ"
INTERVAL_S = 1.0


def _with_sync(config: Config, trust: dict[str, str], peers: dict[str, str]) -> Config:
    sync = config.section(SyncSection).model_copy(update={
        "enabled": True, "hq": HQ, "interval_s": INTERVAL_S, "backoff_max_s": 4.0,
        "peers": [SyncPeer(name=n, url=u) for n, u in peers.items()]})
    api = config.api.model_copy(update={"port": 0})  # never collide with a real node
    return config.model_copy(update={
        "sync": sync, "api": api,
        "trust": config.trust.model_copy(update={"nodes": {**config.trust.nodes, **trust}})})


class DemoFleet:
    """T02 and HQ, running; :attr:`config` is T01's config, set to sync with them."""

    def __init__(self, config: Config, nodes: dict[str, Node]) -> None:
        self.config = config
        self.nodes = nodes

    @classmethod
    async def start(cls, t01_dir: Path, t01: Config) -> DemoFleet:
        root = t01_dir.parent
        for name, role in ((HQ, "hq"), (SECOND_TRUCK, "truck")):
            if not (root / name / CONFIG_FILE).exists():
                init_node_dir(root / name, role=role, name=name)
        hq_config = load_config(root / HQ)
        hq_key = NodeIdentity.load(HQ, hq_config.path(hq_config.node.key_file)).public_key_b64
        trucks = {name: load_config(root / name) for name in (t01.node.name, SECOND_TRUCK)}
        hq_config = _with_sync(hq_config, {}, {})
        keys = {n: NodeIdentity.load(n, c.path(c.node.key_file)).public_key_b64
                for n, c in trucks.items()}
        with open_node(hq_config) as (log, trust):
            if trust.roster is None or set(keys) - set(trust.roster.nodes):
                issue_update(log, trust, {n: RosterEntry(k, "truck") for n, k in keys.items()})
            roster = trust.roster
        assert roster is not None
        nodes: dict[str, Node] = {}
        try:
            nodes[HQ] = Node(hq_config)
            await nodes[HQ].start()
            t02 = _with_sync(trucks[SECOND_TRUCK], {HQ: hq_key}, {HQ: nodes[HQ].url})
            for config in (t02, _with_sync(t01, {HQ: hq_key}, {})):
                with open_node(config) as (log, _):
                    save_roster(log, roster)
            nodes[SECOND_TRUCK] = Node(t02)
            await nodes[SECOND_TRUCK].start()
        except BaseException:
            for node in nodes.values():
                await node.stop()
            raise
        config = _with_sync(t01, {HQ: hq_key}, {SECOND_TRUCK: nodes[SECOND_TRUCK].url,
                                                 HQ: nodes[HQ].url})
        return cls(config, nodes)

    async def settle(self, t01: Node, deadline_s: float = 20.0) -> bool:
        """Wait until HQ and T01 hold both trucks' logs."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            vectors = [await n.worker.call(n.worker.log.version_vector)
                       for n in (t01, *self.nodes.values())]
            want = {t01.config.node.name: vectors[0].get(t01.config.node.name, 0),
                    SECOND_TRUCK: vectors[2].get(SECOND_TRUCK, 0)}
            if all(v.get(o, 0) >= s for v in (vectors[0], vectors[1]) for o, s in want.items()):
                return True
            await asyncio.sleep(0.1)  # polling, with a deadline
        return False

    async def summary(self, t01: Node, settled: bool) -> str:
        hq = self.nodes[HQ].worker
        t01_name = t01.config.node.name
        vectors = {name: await n.worker.call(n.worker.log.version_vector)
                   for name, n in ((t01_name, t01), *self.nodes.items())}
        own = {t01_name: vectors[t01_name].get(t01_name, 0),
               SECOND_TRUCK: vectors[SECOND_TRUCK].get(SECOND_TRUCK, 0)}
        held = ", ".join(f"{vectors[HQ].get(o, 0)}/{n} of {o}" for o, n in own.items())
        record = await t01.worker.call(peer_record, t01.worker.log, HQ)
        stats = await hq.call(hq.log.stats)
        return (f"\n  sync       HQ holds {held}; {t01_name} holds "
                f"{vectors[t01_name].get(SECOND_TRUCK, 0)}/{own[SECOND_TRUCK]} of "
                f"{SECOND_TRUCK} ({'converged' if settled else 'NOT converged'})"
                f"\n  sync       {t01_name} -> HQ: {record.sent if record else 0} events sent, "
                f"HQ rejected {stats['rejected']}")

    async def stop(self) -> None:
        for node in reversed(list(self.nodes.values())):
            await node.stop()
