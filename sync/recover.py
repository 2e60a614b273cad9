"""`fieldkit recover`: rebuild a node's damaged SQLite store from the fleet.

Sources, in this order, each verified by the normal intake (chain, hash, the origin's
signature, checked against this node's trust config and the HQ-signed roster):

1. what the damaged file still holds (:mod:`fieldkit.salvage`): its roster first, so the
   sessions below know the fleet; its events are applied after the fleet's, to add any
   of this node's newest events the fleet never received;
2. sessions with peers (HQ or any truck) over the signed sync protocol, with this node's
   own key: HQ sends a truck its own log and the fleet-wide ones, a truck everything;
3. bundle files (`fieldkit sync export` on another node).

The new database is built beside the damaged one and swapped in only when complete and
verified (:mod:`fieldkit.storefiles`); any failure before that leaves the node as it was.
This node's chain resumes after the highest seq recovered. When the damaged file shows
that this node had issued later events that no source holds, recover refuses unless
told to accept the loss: the node would issue those seqs again, and a copy of the lost
events turning up later would be refused as a fork.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from fieldkit.config import Config
from fieldkit.errors import StoreError
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.salvage import Salvage, salvage
from fieldkit.store import Store
from fieldkit.storefiles import beside, discard, exclusive_lock, finish_swap, swap_in
from fieldkit.worker import LogWorker
from sync.bundle import import_bundle
from sync.config import SyncSection
from sync.errors import BundleError, RosterError
from sync.http import HttpTransport
from sync.roster import Roster, Trust, adopt, open_trust
from sync.session import SyncEngine

logger = logging.getLogger(__name__)

#: What each local table held, for the crew: these never sync, so recover cannot bring
#: them back.
LOCAL_TABLES = {
    "call_contacts": "callers' callback numbers",
    "alerts": "open alerts (a returning situation opens a new incident)",
    "zone_metrics": "zone density history",
    "sensor_readings": "city sensor readings",
    "drone_samples": "drone telemetry samples",
    "truck_positions": "truck GPS track",
    "sync_peers": "peers' last contact (relearned at the next session)",
    "rejections": "counters of refused events",
    "expired_blobs": "which snapshots expired (retention expires them again)",
}


@dataclass
class RecoverReport:
    """What a recover did."""

    path: Path
    damage: str = ""
    """What the integrity check found ("missing": there was no database)."""
    aside: Path | None = None
    """Where the damaged database was kept."""
    sources: list[str] = field(default_factory=list)
    """One line per peer session or bundle."""
    salvaged: int = 0
    """Events read from the damaged file, verified, that no source had."""
    unreadable: int = 0
    """Event rows of the damaged file that could not be read."""
    unread: str = ""
    """Why the damaged file's events could not be read at all ("": they were)."""
    events: int = 0
    incidents: int = 0
    own_seq: int = 0
    """This node's chain now ends here; its next event is own_seq + 1."""
    lost_own: int = 0
    """This node's events the damaged file shows existed but nothing brought back."""
    missing_blobs: int = 0
    local: dict[str, int | None] = field(default_factory=dict)
    finished_interrupted: bool = False

    def lines(self) -> list[str]:
        if self.finished_interrupted:
            return [f"finished an interrupted recover: {self.path} is the rebuilt database; "
                    f"the damaged one is kept as {self.aside}"]
        damage = "; ".join(line.strip() for line in self.damage.splitlines())
        out = ["no database: building a new one" if damage == "missing"
               else f"damaged database: {damage[:160]}", *self.sources,
               f"from the damaged file: {self.salvaged} event(s) no source had, "
               f"{self.unreadable} row(s) unreadable" if not self.unread else
               f"the damaged file's events could not be read ({self.unread}): this node's "
               "events that no source held are lost, and how many is unknown",
               f"rebuilt {self.path}: {self.events} events, {self.incidents} incidents; "
               f"this node's chain resumes at seq {self.own_seq + 1}"]
        if self.lost_own:
            out.append(f"LOST: {self.lost_own} event(s) of this node (seq "
                       f"{self.own_seq + 1}..{self.own_seq + self.lost_own}) that no source "
                       "held (accepted with --accept-loss)")
        if self.missing_blobs:
            out.append(f"{self.missing_blobs} attachment(s) not yet held: later syncs "
                       "fetch them")
        lost = [f"{table} ({'unreadable' if n is None else f'{n} row(s)'}: "
                f"{LOCAL_TABLES.get(table, 'local')})"
                for table, n in sorted(self.local.items()) if n != 0]
        if lost:
            out.append("not recoverable (never synced), kept only in the damaged file: "
                       + "; ".join(lost))
        if self.aside is not None:
            out.append(f"the damaged database is kept as {self.aside}")
        return out


async def recover(config: Config, peers: list[tuple[str, str]], bundles: list[Path],
                  accept_loss: bool = False) -> RecoverReport:
    """Rebuild the node's database from ``peers`` ((name, URL) pairs), ``bundles`` and what
    the damaged file still holds; swap it in when complete and verified."""
    if config.store.url:
        raise StoreError("store.url is set (PostgreSQL): recover rebuilds a truck's SQLite "
                         "file; restore PostgreSQL from its own backups")
    path = config.path(config.node.database)
    identity = NodeIdentity.load(config.node.name, config.path(config.node.key_file))
    report = RecoverReport(path)
    with exclusive_lock(path):
        report.aside = finish_swap(path)
        if report.aside is not None:
            report.finished_interrupted = True
            return report
        found = await asyncio.to_thread(salvage, path, beside(path, ".salvage"))
        if found.integrity == "ok":
            raise StoreError(f"database {path} passed SQLite's integrity check: nothing to "
                             "recover (`fieldkit sync now PEER` catches up with the fleet)")
        report.damage, report.local = found.integrity, found.local
        rebuilt = beside(path, ".rebuilt")
        discard(rebuilt)  # left by an interrupted run: only ever ours
        try:
            await _build(config, identity, rebuilt, found, peers, bundles, accept_loss,
                         report)
        except BaseException:
            discard(rebuilt)
            raise
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        report.aside = beside(path, f".damaged-{stamp}") if path.exists() else None
        # From here a failure leaves the swap marker: the next run finishes the swap.
        swap_in(path, rebuilt, beside(path, f".damaged-{stamp}"))
        discard(rebuilt)  # its lock file
    return report


async def _build(config: Config, identity: NodeIdentity, rebuilt: Path, found: Salvage,
                 peers: list[tuple[str, str]], bundles: list[Path], accept_loss: bool,
                 report: RecoverReport) -> None:
    sync = config.section(SyncSection)
    log = IncidentLog(Store(rebuilt), identity,
                      Keyring.from_names(identity, config.trust.nodes),
                      max_skew_s=config.trust.max_clock_skew_s)
    worker = LogWorker(log, ThreadPoolExecutor(max_workers=1, thread_name_prefix="recover"),
                       where=f"database {rebuilt}")
    try:
        trust = await worker.call(open_trust, log, config.trust.nodes, sync.hq,
                                  config.node.role)
        if found.roster is not None:
            await _adopt_salvaged(worker, trust, found.roster)
        engine = SyncEngine(worker, trust, sync)
        async with aiohttp.ClientSession() as http:
            for name, url in peers:
                session = await engine.run_session(
                    HttpTransport(http, url, name, identity, trust, sync.timeout_s))
                report.sources.append(f"from {name} ({url}): {session.line()}")
        for bundle in bundles:
            result = await worker.call(import_bundle, log, trust, bundle)
            if result.problems:
                raise BundleError(f"bundle {bundle} is damaged: {'; '.join(result.problems)}"
                                  "; nothing was changed")
            report.sources.append(f"from bundle {bundle} (by {result.node}): "
                                  f"{result.applied} new events, {result.duplicates} "
                                  "already held")
        applied = await worker.call(log.apply_wire, found.events)
        report.salvaged, report.unreadable = applied.applied, found.unreadable
        if not found.read and found.integrity != "missing":
            report.unread = found.integrity.splitlines()[0][:160]
        await worker.call(_keep_blobs, log, found)
        stats = await worker.call(log.stats)
        report.events, report.incidents = stats["events"], stats["incidents"]
        report.own_seq = stats["origins"].get(identity.name, 0)
        report.lost_own = max(0, found.seen_seq.get(identity.name, 0) - report.own_seq)
        if report.lost_own and not accept_loss:
            raise StoreError(_loss_message(report))
        report.missing_blobs = len(await worker.call(log.missing_blobs))
        await worker.call(_seal, log)
    finally:
        await worker.close()


async def _adopt_salvaged(worker: LogWorker, trust: Trust, document: str) -> None:
    """The roster the damaged file held, if HQ's signature on it still checks."""
    try:
        await worker.call(adopt, worker.log, trust, Roster.loads(document))
    except (RosterError, ValueError) as exc:
        logger.warning("the damaged database's roster is not usable: %s", exc)


def _keep_blobs(log: IncidentLog, found: Salvage) -> None:
    """Attachments the damaged file still holds intact that no source sent."""
    missing = set(log.missing_blobs())
    for digest, mime, data in found.blobs:
        if digest in missing:
            log.put_blob(data, mime)


def _seal(log: IncidentLog) -> None:
    """Check the rebuilt database and leave it as one self-contained file (no -wal that
    could be separated from it during the swap)."""
    problem = log.store.integrity_check()
    if problem != "ok":
        raise StoreError(f"the rebuilt database failed its integrity check ({problem}); "
                         "nothing was changed")
    log.store.conn.execute("PRAGMA journal_mode=DELETE")


def _loss_message(report: RecoverReport) -> str:
    first, last = report.own_seq + 1, report.own_seq + report.lost_own
    return (f"this node's own events {first}..{last} ({report.lost_own}) were issued here "
            "(the damaged file shows them) but no source holds them and they could not be "
            "read back: try another truck that synced with this one (--from), or accept "
            "the loss with --accept-loss (this node then issues those seqs again, and a "
            "copy of the lost events turning up later is refused as a fork); nothing was "
            "changed")
