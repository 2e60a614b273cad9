"""The `fieldkit` command: a thin skin that parses arguments and calls the library.

Every FieldkitError becomes a one-line message and exit status 1; usage errors exit 2.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fieldkit.clishared import add_part_commands, cli_errors, dir_option, enum_choice, open_log
from fieldkit.config import load_config
from fieldkit.export import FORMATS, export
from fieldkit.log import IncidentLog
from fieldkit.logsetup import setup_logging
from fieldkit.nodedir import init_node_dir
from fieldkit.render import incident_detail, incident_table
from fieldkit.vocabulary import Agency, IncidentKind, LinkTarget, Source, Status


@click.group()
@click.version_option(package_name="fieldkit")
def main() -> None:
    """fieldkit: the command-truck node, its incident log, sync and tools."""


@main.command()
@click.option("--role", type=click.Choice(["truck", "hq"]), required=True, help="Node role.")
@click.option("--name", required=True, help="Unique node name in the fleet, e.g. T07.")
@dir_option
@cli_errors
def init(role: str, name: str, node_dir: Path) -> None:
    """Create a node directory: config, Ed25519 key and API token."""
    result = init_node_dir(node_dir, role=role, name=name)
    click.echo(f"initialised {role} {name} in {node_dir}")
    click.echo(f"  config      {result.config_path}")
    click.echo(f"  key         {result.key_path} (mode 0600)")
    click.echo(f"  api token   {result.token_path} (mode 0600)")
    click.echo(f"  public key  {result.public_key}")
    click.echo(f'other nodes trust this one with: {name} = "{result.public_key}" in [trust.nodes]')


# --- incidents --------------------------------------------------------------------------


@main.group()
def incident() -> None:
    """Create, inspect and update incidents."""


@incident.command("add")
@click.option("--title", required=True, help="Short description, as a crew would say it.")
@click.option("--kind", type=enum_choice(IncidentKind), required=True)
@click.option("--severity", type=click.IntRange(1, 5), required=True,
              help="1 minor .. 5 mass casualty.")
@click.option("--source", type=enum_choice(Source), default="crew", show_default=True)
@click.option("--lat", type=float, help="WGS84 latitude (with --lon).")
@click.option("--lon", type=float, help="WGS84 longitude (with --lat).")
@click.option("--accuracy", type=float, help="Position accuracy in metres.")
@click.option("--zone", help="Zone name.")
@click.option("--camera", help="Camera name.")
@click.option("--description", default="", help="Longer text.")
@dir_option
@cli_errors
def incident_add(title: str, kind: str, severity: int, source: str, lat: float | None,
                 lon: float | None, accuracy: float | None, zone: str | None,
                 camera: str | None, description: str, node_dir: Path) -> None:
    """Open a new incident and print its id."""
    given = {"lat": lat, "lon": lon, "accuracy_m": accuracy, "zone": zone, "camera": camera}
    location = {k: v for k, v in given.items() if v is not None} or None
    with open_log(node_dir) as log:
        created = log.create(title=title, kind=kind, severity=severity, source=source,
                             location=location, description=description)
    click.echo(created.id)


@incident.command("list")
@click.option("--status", type=enum_choice(Status))
@click.option("--kind", type=enum_choice(IncidentKind))
@click.option("--min-severity", type=click.IntRange(1, 5))
@click.option("--open", "open_only", is_flag=True, help="Only incidents not resolved or closed.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@dir_option
@cli_errors
def incident_list(status: str | None, kind: str | None, min_severity: int | None,
                  open_only: bool, as_json: bool, node_dir: Path) -> None:
    """List incidents: open first, then by severity and latest change."""
    with open_log(node_dir) as log:
        found = log.incidents(status=status, kind=kind, min_severity=min_severity,
                         open_only=open_only)
    if as_json:
        click.echo(json.dumps([i.model_dump(mode="json") for i in found], indent=2))
    else:
        click.echo(incident_table(found))


@incident.command("show")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@dir_option
@cli_errors
def incident_show(incident_id: str, as_json: bool, node_dir: Path) -> None:
    """Show one incident (a unique prefix of its id is enough)."""
    with open_log(node_dir) as log:
        found = log.get(log.resolve(incident_id))
    click.echo(json.dumps(found.model_dump(mode="json"), indent=2) if as_json
               else incident_detail(found))


def _act(node_dir: Path, incident_id: str, action: Callable[[IncidentLog, str], Any]) -> None:
    with open_log(node_dir) as log:
        changed = action(log, log.resolve(incident_id))
    click.echo(incident_detail(changed))


@incident.command("ack")
@click.argument("incident_id")
@dir_option
@cli_errors
def incident_ack(incident_id: str, node_dir: Path) -> None:
    """Acknowledge a new incident."""
    _act(node_dir, incident_id, lambda log, i: log.acknowledge(i))


@incident.command("status")
@click.argument("incident_id")
@click.argument("status", type=enum_choice(Status), metavar="STATUS")
@click.option("--reason", default="", help="Why (shown in the timeline).")
@dir_option
@cli_errors
def incident_status(incident_id: str, status: str, reason: str, node_dir: Path) -> None:
    """Change status; from resolved or closed back to an open status reopens."""
    _act(node_dir, incident_id, lambda log, i: log.set_status(i, status, reason))


@incident.command("assign")
@click.argument("incident_id")
@click.argument("agency", type=enum_choice(Agency), metavar="AGENCY")
@click.argument("unit")
@click.option("--remove", is_flag=True, help="Unassign the unit instead.")
@dir_option
@cli_errors
def incident_assign(incident_id: str, agency: str, unit: str, remove: bool,
                    node_dir: Path) -> None:
    """Assign (or with --remove unassign) an agency's unit."""
    if remove:
        _act(node_dir, incident_id, lambda log, i: log.unassign(i, agency, unit))
    else:
        _act(node_dir, incident_id, lambda log, i: log.assign(i, agency, unit))


@incident.command("note")
@click.argument("incident_id")
@click.argument("text")
@dir_option
@cli_errors
def incident_note(incident_id: str, text: str, node_dir: Path) -> None:
    """Add a note."""
    _act(node_dir, incident_id, lambda log, i: log.add_note(i, text))


@incident.command("set")
@click.argument("incident_id")
@click.option("--title")
@click.option("--kind", type=enum_choice(IncidentKind))
@click.option("--severity", type=click.IntRange(1, 5))
@click.option("--description")
@dir_option
@cli_errors
def incident_set(incident_id: str, title: str | None, kind: str | None,
                 severity: int | None, description: str | None, node_dir: Path) -> None:
    """Change fields; setting a conflicted field resolves the conflict."""
    given = {"title": title, "kind": kind, "severity": severity, "description": description}
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        raise click.UsageError("give at least one of --title, --kind, --severity, --description")
    _act(node_dir, incident_id, lambda log, i: log.update(i, changes))


@incident.command("link")
@click.argument("incident_id")
@click.argument("target", type=enum_choice(LinkTarget), metavar="camera|drone")
@click.argument("ref")
@dir_option
@cli_errors
def incident_link(incident_id: str, target: str, ref: str, node_dir: Path) -> None:
    """Link a camera or drone by name."""
    _act(node_dir, incident_id, lambda log, i: log.link(i, target, ref))


@incident.command("attach")
@click.argument("incident_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mime", help="Content type (guessed from the file name by default).")
@dir_option
@cli_errors
def incident_attach(incident_id: str, file: Path, mime: str | None, node_dir: Path) -> None:
    """Attach a file (snapshot, clip, document) as a content-addressed blob."""
    content_type = mime or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    data = file.read_bytes()
    _act(node_dir, incident_id, lambda log, i: log.attach(i, data, file.name, content_type))


@incident.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: standard output).")
@dir_option
@cli_errors
def incident_export(fmt: str, output: Path | None, node_dir: Path) -> None:
    """Export all incidents as JSON, CSV or GeoJSON."""
    with open_log(node_dir) as log:
        text = export(log.incidents(), fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


# --- node, bench -------------------------------------------------------------------------


@main.group()
def node() -> None:
    """Run the node."""


@node.command("run")
@dir_option
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="API worker processes sharing the port (needs a PostgreSQL store).")
@cli_errors
def node_run(node_dir: Path, workers: int) -> None:
    """Serve the local API (and later cameras, drones, sync) until Ctrl-C or SIGTERM."""
    from fieldkit.node import Node, run_until_signalled
    from fieldkit.workers import check_workers, run_workers

    config = load_config(node_dir)
    setup_logging(config.logging.level)
    check_workers(config, workers)
    if workers > 1:
        run_workers(node_dir, workers)
    else:
        asyncio.run(run_until_signalled(Node(config)))


@main.group()
def bench() -> None:
    """Benchmarks: each prints figures and a ratio against a baseline run alongside."""


@bench.command("log")
@click.option("--events", type=click.IntRange(1000), default=100_000, show_default=True)
@click.option("--one-by-one", type=click.IntRange(100), default=100_000, show_default=True,
              help="Events appended one transaction each (fsync-bound).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable figures.")
@cli_errors
def bench_log(events: int, one_by_one: int, as_json: bool) -> None:
    """Append, verify+apply and rebuild the incident log against a plain insert."""
    from fieldkit.bench.log import run_log_bench

    result = run_log_bench(events=events, one_by_one=one_by_one,
                           progress=lambda msg: click.echo(msg, err=True))
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else result.table())


@bench.command("api")
@click.option("--incidents", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="Incidents on the board that GET /api/incidents returns.")
@click.option("--subscribers", type=click.IntRange(0, 2000), default=200, show_default=True,
              help="Live streams open during the loaded phase.")
@click.option("--writers", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="Crews each changing an incident once a second in the loaded phase.")
@click.option("--seconds", type=click.FloatRange(1, 600), default=20.0, show_default=True,
              help="Length of each phase (idle, then loaded).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable figures.")
@cli_errors
def bench_api(incidents: int, subscribers: int, writers: int, seconds: float,
              as_json: bool) -> None:
    """API read latency idle, then under live streams and writers, with the ratio."""
    from fieldkit.bench.api import run_api_bench

    result = run_api_bench(incidents=incidents, subscribers=subscribers, writers=writers,
                           seconds=seconds, progress=lambda msg: click.echo(msg, err=True))
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else result.table())


add_part_commands(main, bench)


if __name__ == "__main__":
    main()
