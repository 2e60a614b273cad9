"""`fieldkit hq migrate-store --to postgresql://...`: move an HQ's incident log from its
SQLite file to PostgreSQL (stop the node first).

Every event is verified again on the way, as a sync would (its hash, its place in the
origin's chain, and its signature, one by one), then applied to the PostgreSQL store
in batches, each atomic. Idempotent: a run that was interrupted resumes from what the
target holds (each origin's highest seq), and running it again on a complete target
changes nothing. The node's local tables (sync roster and peers, alerts, call contacts,
samples, rejection counters) follow, row by row, ids kept. At the end the incident views
of both stores are compared: they must be byte-identical.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from fieldkit.clishared import cli_errors, dir_option, quiet_logging
from fieldkit.config import load_config
from fieldkit.errors import ConfigError, StoreError
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.parts import install_trust
from fieldkit.pgstore import PgStore
from fieldkit.store import Store
from fieldkit.storeapi import LogStore

logger = logging.getLogger(__name__)

BATCH = 2000
#: Tables that are not copied row by row: the log itself, its folded view, and the
#: migration records (each store keeps its own).
NOT_COPIED = {"events", "incidents", "blobs", "_sqlite_migrations"}


class MigrationError(StoreError):
    """An event or row that cannot be moved; nothing after it was."""


@dataclass
class MigrationReport:
    events: int = 0
    """Events applied to the target by this run."""
    already: int = 0
    """Events the target held before this run."""
    blobs: int = 0
    rows: int = 0
    """Rows of local tables copied by this run."""


def events_to_move(source: IncidentLog, target: IncidentLog) -> int:
    held = target.version_vector()
    return sum(max(0, n - held.get(o, 0)) for o, n in source.version_vector().items())


def migrate(source: IncidentLog, target: IncidentLog,
            progress: Callable[[int], None] = lambda _: None) -> MigrationReport:
    report = MigrationReport()
    held = target.version_vector()
    report.already = sum(held.values())
    for origin, last in sorted(source.version_vector().items()):
        if origin not in source.keyring:
            raise MigrationError(
                f"origin {origin!r} is not trusted here (trust.nodes or the roster): its "
                f"{last} event(s) cannot be verified; add its key to trust.nodes and run again")
        after = held.get(origin, 0)
        while after < last:
            events = source.events_after(origin, after, BATCH)
            for e in events:
                if e.compute_hash() != e.hash or not e.signature_valid(source.keyring.verify):
                    raise MigrationError(f"event {e.id} fails verification: it was not moved")
            applied = target.apply(events)
            if applied.rejected:
                raise MigrationError(f"the target refused {applied.rejected[0].event}: "
                                     f"{applied.rejected[0].detail}")
            report.events += applied.applied
            progress(len(events))
            after = events[-1].seq
    report.blobs = _copy_blobs(source, target)
    report.rows = _copy_tables(source.store, target.store)
    _compare_views(source.store, target.store)
    return report


def _copy_blobs(source: IncidentLog, target: IncidentLog) -> int:
    have = {r[0] for r in target.store.conn.execute("SELECT sha256 FROM blobs")}
    copied = 0
    for (digest,) in source.store.conn.execute("SELECT sha256 FROM blobs ORDER BY sha256"):
        if digest in have:
            continue
        mime, data = source.blob(digest)
        if hashlib.sha256(data).hexdigest() != digest:
            raise MigrationError(f"blob {digest} does not match its hash: it was not moved")
        target.put_blob(data, mime)
        copied += 1
    return copied


def _copy_tables(source: LogStore, target: LogStore) -> int:
    """Copy the local tables' rows the target lacks (by primary key), then move each
    identity sequence past the ids copied."""
    copied = 0
    tables = [r[0] for r in source.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name") if r[0] not in NOT_COPIED]
    with target.write() as conn:
        for table in tables:
            columns = [r[1] for r in source.conn.execute(f"PRAGMA table_info({table})")]
            names = ", ".join(columns)
            marks = ", ".join("?" * len(columns))
            rows = source.conn.execute(f"SELECT {names} FROM {table}").fetchall()
            if rows:
                copied += conn.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                    rows).rowcount
            if "id" in columns:
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                             f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
    return copied


def _compare_views(source: LogStore, target: LogStore) -> None:
    # Sorted here: the target's collation need not be byte order.
    query = "SELECT id, state FROM incidents"
    if sorted(tuple(r) for r in source.conn.execute(query)) != \
            sorted(tuple(r) for r in target.conn.execute(query)):
        raise MigrationError("the incident views differ after the move: keep SQLite "
                             "(store.url unset) and report this")


@click.group("hq")
def hq() -> None:
    """HQ at city scale: its store."""


@hq.command("migrate-store")
@dir_option
@click.option("--to", "url", required=True, metavar="postgresql://USER@HOST/DB",
              help="The PostgreSQL database to move the log into (created empty, or a "
                   "previous interrupted run's).")
@cli_errors
def migrate_store(node_dir: Path, url: str) -> None:
    """Move this HQ's log from SQLite to PostgreSQL, every event verified (stop the node
    first). Safe to run again after an interruption: it resumes."""
    config = load_config(node_dir)
    quiet_logging(config)
    if config.store.is_postgresql:
        raise ConfigError("store.url already names a PostgreSQL database: migrate-store "
                          "moves a log out of SQLite (node.database)")
    identity = NodeIdentity.load(config.node.name, config.path(config.node.key_file))
    with Store(config.path(config.node.database)) as sqlite, PgStore(url) as pg:
        source = IncidentLog(sqlite, identity, Keyring.from_names(identity, config.trust.nodes))
        install_trust(source, config)  # the fleet's roster, where the sync part holds it
        target = IncidentLog(pg, identity, source.keyring)
        with click.progressbar(length=events_to_move(source, target), label="events",
                               file=sys.stderr, show_pos=True) as bar:
            report = migrate(source, target, bar.update)
    click.echo(f"moved {report.events} event(s) ({report.already} were there already), "
               f"{report.blobs} blob(s), {report.rows} local row(s); incident views identical."
               "\nNow set store.url to this database in fieldkit.toml and start the node.")
