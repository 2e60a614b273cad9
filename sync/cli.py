"""`fieldkit sync ...` and `fieldkit bench sync`: a thin skin over the sync library.

Added to the main command through the sync part (:mod:`sync.part`). Every FieldkitError
becomes a one-line message and exit status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from fieldkit import wirejson
from fieldkit.clishared import cli_errors, dir_option, quiet_logging
from fieldkit.config import Config, load_config
from fieldkit.errors import FieldkitError
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.store import open_node_store
from sync.config import SyncSection


@contextlib.contextmanager
def _open(node_dir: Path) -> Iterator[tuple[Config, IncidentLog, Any]]:
    from sync.roster import trust_from_config

    config = load_config(node_dir)
    quiet_logging(config)
    identity = NodeIdentity.load(config.node.name, config.path(config.node.key_file))
    with open_node_store(config) as store:
        log = IncidentLog(store, identity, Keyring.from_names(identity, config.trust.nodes),
                          max_skew_s=config.trust.max_clock_skew_s)
        trust = trust_from_config(log, config)
        yield config, log, trust


@click.group("sync")
def sync_group() -> None:
    """Sync with other trucks and HQ: sessions, bundle files, status, fleet roster."""


@sync_group.command("now")
@click.argument("peer")
@click.option("--url", help="Peer URL (default: from the config).")
@dir_option
@cli_errors
def sync_now(peer: str, url: str | None, node_dir: Path) -> None:
    """Run one session with PEER now, both directions."""
    from sync.http import sync_once

    config = load_config(node_dir)
    quiet_logging(config)
    report = asyncio.run(sync_once(config, peer, url))
    click.echo(report.line())
    for line in report.rejected[:10]:
        click.echo(f"  rejected {line}")


@sync_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@dir_option
@cli_errors
def sync_status(as_json: bool, node_dir: Path) -> None:
    """Per peer: last contact, events pending each way, lag."""
    from sync.status import peer_status, status_table

    with _open(node_dir) as (config, log, trust):
        rows = peer_status(config, log, trust)
    click.echo(json.dumps(rows, indent=2) if as_json
               else status_table(config, rows, trust.roster_version))


@sync_group.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Bundle file to write.")
@click.option("--for", "peer", help="Export what PEER lacks (by its vector at last contact).")
@click.option("--since", help="Export beyond this vector: ORIGIN=SEQ,... or JSON.")
@click.option("--blob-budget", type=click.IntRange(0), help="Attachment bytes to include "
              "(default: sync.blob_budget_bytes).")
@dir_option
@cli_errors
def sync_export(output: Path, peer: str | None, since: str | None, blob_budget: int | None,
                node_dir: Path) -> None:
    """Write a bundle file for sneakernet (a USB stick to another truck or HQ)."""
    from sync.bundle import export_bundle
    from sync.peerstate import peer_record
    from sync.protocol import parse_vector_text, pending
    from sync.scope import offer_filter

    if peer and since:
        raise click.UsageError("give --for or --since, not both")
    with _open(node_dir) as (config, log, trust):
        vector: dict[str, int] = {}
        allowed: Callable[[str], bool] = lambda origin: True  # noqa: E731
        if since:
            vector = parse_vector_text(since)
        if peer:
            record = peer_record(log, peer)
            vector = record.vector if record else {}
            allowed = offer_filter(trust, peer)
            if record is None:
                click.echo(f"no contact with {peer} yet: exporting everything in its scope",
                           err=True)
        total = pending(log.version_vector(), vector, allowed)
        budget = (config.section(SyncSection).blob_budget_bytes if blob_budget is None
                  else blob_budget)
        with click.progressbar(length=total, label="exporting events",
                               file=sys.stderr) as bar:
            result = export_bundle(log, trust, output, vector, allowed, budget, bar.update)
    click.echo(f"wrote {output}: {result.events} events, {result.blobs} blobs, "
               f"{result.bytes} bytes")


@sync_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@dir_option
@cli_errors
def sync_import(file: Path, node_dir: Path) -> None:
    """Verify and apply a bundle file; safe to repeat. Exit 1 if it is damaged."""
    from sync.bundle import import_bundle, scan

    with _open(node_dir) as (_, log, trust):
        total = 0
        with contextlib.suppress(FieldkitError, ValueError, KeyError, TypeError):
            header = next((f for f in scan(file.read_bytes())[0] if f.kind == b"H"), None)
            total = int(wirejson.loads(header.payload)["events"]) if header else 0
        with click.progressbar(length=total, label="importing events",
                               file=sys.stderr) as bar:
            result = import_bundle(log, trust, file, bar.update)
    click.echo(f"bundle from {result.node} (signature {result.signature}): "
               f"{result.applied} new events, {result.duplicates} already held, "
               f"{result.deferred} waiting for earlier events, {len(result.rejected)} "
               f"rejected, {result.blobs} blobs")
    if result.roster:
        click.echo(f"roster: {result.roster}")
    for line in result.rejected[:10]:
        click.echo(f"  rejected {line}")
    if result.problems:
        raise click.ClickException(
            "bundle is damaged: " + "; ".join(result.problems)
            + f" (only verified events were imported: {result.applied} new)")


@sync_group.command("join")
@click.option("--usb", "stick", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Mounted USB stick prepared by HQ (holds fieldkit/roster.json).")
@click.option("--hq-url", help="HQ's node API, e.g. https://hq.example:8470.")
@click.option("--hq-name", help="HQ's node name (required without --usb).")
@click.option("--hq-key", help="HQ's base64 public key (required without --usb; pins it with).")
@dir_option
@cli_errors
def join(stick: Path | None, hq_url: str | None, hq_name: str | None, hq_key: str | None,
         node_dir: Path) -> None:
    """Join the fleet: trust HQ, sync with it, adopt the roster from the stick."""
    from sync.join import join_fleet

    result = join_fleet(node_dir, stick=stick, hq_url=hq_url, hq_name=hq_name, hq_key=hq_key)
    click.echo(f"joined the fleet of HQ {result.hq}"
               + ("" if result.config_changed else " (config already had it)"))
    if result.roster_version is not None:
        click.echo(f"  roster version {result.roster_version} adopted")
    else:
        click.echo("  roster: arrives with the first sync once HQ has added this truck")
    if result.enrolment is not None:
        click.echo(f"  enrolment request left on the stick: {result.enrolment}")
    click.echo(f"on HQ: fieldkit sync roster add {result.node} {result.public_key}")


@sync_group.group("roster")
def roster_group() -> None:
    """The fleet roster HQ signs: show it; on HQ, add or revoke nodes."""


@roster_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="The signed document.")
@dir_option
@cli_errors
def roster_show(as_json: bool, node_dir: Path) -> None:
    """Show the roster held here."""
    with _open(node_dir) as (_, _log, trust):
        roster = trust.roster
    if roster is None:
        raise click.ClickException("no roster held yet: HQ issues it; sync with HQ or a truck")
    if as_json:
        click.echo(json.dumps(roster.to_json(), indent=2))
        return
    click.echo(f"roster version {roster.version}, issued by {roster.issuer}")
    for name, entry in sorted(roster.nodes.items()):
        flags = ", ".join(f for f, on in (("revoked", entry.revoked),
                                          ("fleet-wide", entry.fleet_wide)) if on)
        click.echo(f"  {name:<12} {entry.role:<6} {entry.key}  {flags}")


@roster_group.command("add")
@click.argument("name")
@click.argument("public_key")
@click.option("--role", type=click.Choice(["truck", "hq"]), default="truck", show_default=True)
@click.option("--fleet-wide", is_flag=True, help="HQ sends this node's log to every truck.")
@dir_option
@cli_errors
def roster_add(name: str, public_key: str, role: str, fleet_wide: bool, node_dir: Path) -> None:
    """On HQ: add (or re-key, or un-revoke) a node; the new version spreads by sync."""
    from fieldkit.identity import decode_public_key
    from sync.roster import RosterEntry, issue_update

    decode_public_key(public_key)
    with _open(node_dir) as (_, log, trust):
        roster = issue_update(log, trust, {name: RosterEntry(
            public_key, "hq" if role == "hq" else "truck", False, fleet_wide)})
    click.echo(f"roster version {roster.version}: {name} added as {role}")


@roster_group.command("revoke")
@click.argument("name")
@dir_option
@cli_errors
def roster_revoke(name: str, node_dir: Path) -> None:
    """On HQ: revoke a node (a lost or stolen truck); the new version spreads by sync."""
    from sync.errors import RosterError
    from sync.roster import RosterEntry, issue_update

    with _open(node_dir) as (_, log, trust):
        if trust.roster is None or name not in trust.roster.nodes:
            raise RosterError(f"{name} is not in the roster")
        entry = trust.roster.nodes[name]
        roster = issue_update(log, trust, {name: RosterEntry(entry.key, entry.role, True,
                                                             entry.fleet_wide)})
    click.echo(f"roster version {roster.version}: {name} revoked")


@roster_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@dir_option
@cli_errors
def roster_import(file: Path, node_dir: Path) -> None:
    """Install a roster file (from `roster show --json` on HQ) when provisioning a truck."""
    from sync.roster import Roster, adopt

    roster = Roster.loads(file.read_bytes())
    with _open(node_dir) as (_, log, trust):
        taken = adopt(log, trust, roster)
    click.echo(f"roster version {roster.version} " + ("adopted" if taken else
                                                      "not newer than the one held"))


@click.command("sync")
@click.option("--events", type=click.IntRange(1000), default=20_000, show_default=True,
              help="Events replicated in part (b).")
@click.option("--trucks", type=click.IntRange(2), default=50, show_default=True,
              help="Trucks in the simulation (c).")
@click.option("--schedules", type=click.IntRange(1), default=200, show_default=True,
              help="Random contact schedules simulated in part (c).")
@click.option("--samples", type=click.IntRange(1), default=20, show_default=True,
              help="Incidents timed per path and arm in part (d).")
@click.option("--runs", type=click.IntRange(1), default=5, show_default=True,
              help="Link-up measurements per path in part (e).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable figures.")
@cli_errors
def bench_sync(events: int, trucks: int, schedules: int, samples: int, runs: int,
               as_json: bool) -> None:
    """Sync: wire size, throughput over HTTP, fleet simulation, commit-to-HQ latency."""
    from sync.bench import run_sync_bench

    result = asyncio.run(run_sync_bench(events=events, trucks=trucks, trials=schedules,
                                        samples=samples, latency_runs=runs,
                                        progress=lambda msg: click.echo(msg, err=True)))
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else result.table())


@click.command("recover")
@click.option("--from", "peers", multiple=True, metavar="PEER[=URL]",
              help="A peer (HQ or a truck) to pull from; its URL from the config's "
                   "[[sync.peers]] unless given. Repeatable.")
@click.option("--bundle", "bundles", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A bundle file (`fieldkit sync export` elsewhere). Repeatable.")
@click.option("--accept-loss", is_flag=True,
              help="Go on when this node's newest events are held nowhere else (they are "
                   "lost, and their seqs are issued again).")
@dir_option
@cli_errors
def recover_command(peers: tuple[str, ...], bundles: tuple[Path, ...], accept_loss: bool,
                    node_dir: Path) -> None:
    """Rebuild this node's damaged database from HQ or trucks, bundles and what the
    damaged file still holds; the damaged file is kept. The node must be stopped."""
    from sync.recover import recover

    config = load_config(node_dir)
    quiet_logging(config)
    known = config.section(SyncSection).peer_urls(config.node.name)
    sources: list[tuple[str, str]] = []
    for item in peers:
        name, _, url = item.partition("=")
        if not url and name not in known:
            raise click.UsageError(f"--from {name}: no URL for it in the config (peers: "
                                   f"{', '.join(sorted(known)) or 'none'}); give {name}=URL")
        sources.append((name, url or known[name]))
    report = asyncio.run(recover(config, sources, list(bundles), accept_loss))
    for line in report.lines():
        click.echo(line)
