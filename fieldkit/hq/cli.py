"""`fieldkit call ...`, `fieldkit report` and `fieldkit feed ...`: thin commands over
:mod:`fieldkit.hq` (loaded lazily by :mod:`fieldkit.cli`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from fieldkit.analytics.config import CamerasSection
from fieldkit.clishared import cli_errors, dir_option, enum_choice, open_log
from fieldkit.config import Config, load_config
from fieldkit.errors import InvalidActionError
from fieldkit.hlc import wall_ms
from fieldkit.hq.calls import contacts_of, parse_call
from fieldkit.hq.cap import alertable, cap_xml
from fieldkit.hq.config import HqSection
from fieldkit.hq.fusion import Footprint, camera_footprints, live_drones, take_call
from fieldkit.vocabulary import IncidentKind


def _footprints(config: Config) -> list[Footprint]:
    return camera_footprints(config.section(CamerasSection),
                             config.section(HqSection).camera_range_m)


@click.group()
def call() -> None:
    """Emergency calls: open or merge an incident; callers' numbers stay on this node."""


@call.command("add")
@click.option("--kind", type=enum_choice(IncidentKind), required=True, help="What is reported.")
@click.option("--description", required=True, help="What the caller said.")
@click.option("--callback", required=True, help="Caller's number (kept on this node only).")
@click.option("--lat", type=float, help="WGS84 latitude (with --lon).")
@click.option("--lon", type=float, help="WGS84 longitude (with --lat).")
@click.option("--accuracy", type=float, help="Position accuracy in metres.")
@click.option("--zone", help="Zone name, when there is no position.")
@click.option("--severity", type=int, default=3, show_default=True, help="1 .. 5.")
@click.option("--title", help="Default: 'Call: KIND'.")
@dir_option
@cli_errors
def call_add(kind: str, description: str, callback: str, lat: float | None,
             lon: float | None, accuracy: float | None, zone: str | None, severity: int,
             title: str | None, node_dir: Path) -> None:
    """Take a call: merge it into the analytics incident about the same situation, or
    open one; link the cameras that see the place and the nearest drone."""
    given = {"lat": lat, "lon": lon, "accuracy_m": accuracy, "zone": zone}
    data = {"kind": kind, "description": description, "callback": callback,
            "severity": severity, "location": {k: v for k, v in given.items() if v is not None}}
    if title is not None:
        data["title"] = title
    parsed = parse_call(data)
    config = load_config(node_dir)
    footprints = _footprints(config)
    with open_log(node_dir) as log:
        outcome = take_call(log, parsed, config.section(HqSection), footprints)
    incident = outcome.incident
    if outcome.merged:
        away = "" if outcome.distance_m is None else f", {outcome.distance_m:.0f} m away"
        click.echo(f"merged into incident {incident.id} ({incident.title}{away})")
    else:
        click.echo(f"opened incident {incident.id} ({incident.title}, severity "
                   f"{incident.severity})")
    click.echo(f"  cameras     {', '.join(outcome.cameras) or 'none covers the place'}")
    click.echo(f"  drone       {outcome.drone or 'none live'}")
    click.echo("  callback    " + ("written into the incident (hq.share_callback_numbers)"
                                   if config.section(HqSection).share_callback_numbers
                                   else "kept on this node only (`fieldkit call contact`)"))


@call.command("contact")
@click.argument("incident_id")
@dir_option
@cli_errors
def call_contact(incident_id: str, node_dir: Path) -> None:
    """Callback numbers of an incident's callers taken at this node."""
    with open_log(node_dir) as log:
        full = log.resolve(incident_id)
        found = contacts_of(log.store.conn, full)
    if not found:
        raise InvalidActionError(f"no call for incident {full} was taken at this node")
    from fieldkit.export import iso

    for c in found:
        click.echo(f"{iso(c.received_at)}  {c.callback}"
                   + ("  (merged into this incident)" if c.merged else ""))


@click.command()
@click.option("--since", required=True, help="30m, 12h, 7d ago, or an ISO 8601 time.")
@click.option("--until", "until", help="ISO 8601 time or duration ago (default: now).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the HTML report (tables and charts) here.")
@dir_option
@cli_errors
def report(since: str, until: str | None, output: Path | None, node_dir: Path) -> None:
    """Response times per agency and kind: a summary here, tables and charts in HTML."""
    from fieldkit.hq.report import build_report, parse_since, report_html, summary_text

    now = wall_ms()
    start = parse_since(since, now)
    end = now + 1 if until is None else parse_since(until, now)
    config = load_config(node_dir)
    with open_log(node_dir) as log:
        result = build_report(log.incidents(), start, end)
    click.echo(summary_text(result))
    if output is not None:
        output.write_text(report_html(result, config.node.name), encoding="utf-8")
        click.echo(f"wrote {output}")


@click.group()
def feed() -> None:
    """Feeds for the city's systems: GeoJSON, CAP 1.2, Cursor-on-Target."""


@feed.command("geojson")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: standard output).")
@dir_option
@cli_errors
def feed_geojson(output: Path | None, node_dir: Path) -> None:
    """The picture as GeoJSON: incidents, camera footprints, live drones, this truck."""
    from fieldkit.hq.cot import truck_position
    from fieldkit.hq.geojson import picture_geojson

    config = load_config(node_dir)
    with open_log(node_dir) as log:
        incidents = log.incidents()
        drones = live_drones(log.store.conn, wall_ms(), config.section(HqSection).drone_max_age_s)
        truck = truck_position(log)
    text = json.dumps(picture_geojson(incidents, _footprints(config), drones, truck,
                                      config.node.name), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@feed.command("cap")
@click.option("-o", "--output", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the alerts, one INCIDENT.xml each.")
@dir_option
@cli_errors
def feed_cap(out_dir: Path, node_dir: Path) -> None:
    """CAP 1.2 alerts for incidents at or above hq.cap_min_severity."""
    config = load_config(node_dir)
    sender = config.section(HqSection).cap_sender or f"fieldkit@{config.node.name}"
    with open_log(node_dir) as log:
        incidents = alertable(log.incidents(), config.section(HqSection).cap_min_severity)
    out_dir.mkdir(parents=True, exist_ok=True)
    for incident in incidents:
        (out_dir / f"{incident.id}.xml").write_bytes(cap_xml(incident, sender,
                                                             config.node.name))
    click.echo(f"wrote {len(incidents)} CAP alert(s) (severity >= "
               f"{config.section(HqSection).cap_min_severity}) to {out_dir}")


@feed.command("cot")
@dir_option
@cli_errors
def feed_cot(node_dir: Path) -> None:
    """Send the picture once as Cursor-on-Target to the destinations in [hq.cot]."""
    from fieldkit.hq.cot import CotPublisher, TakClient, tak_context
    from fieldkit.worker import LogWorker

    config = load_config(node_dir)
    cot = config.section(HqSection).cot
    if not cot.multicast and cot.tak_host is None:
        raise InvalidActionError("no CoT destination: set hq.cot.multicast = true and/or "
                                 "hq.cot.tak_host in fieldkit.toml")

    async def once() -> int:
        worker = await LogWorker.open(config)
        tak = None if cot.tak_host is None else TakClient(cot.tak_host, cot.tak_port,
                                                          tak_context(config))
        publisher = CotPublisher(config, worker, None, tak)
        try:
            if tak is not None and not await tak.connect():
                raise InvalidActionError(f"cannot reach the TAK server {cot.tak_host}:"
                                         f"{cot.tak_port}: {tak.last_error}")
            publisher.open_multicast()
            return await publisher.tick(refresh=True)
        finally:
            await publisher.stop()
            await worker.close()

    sent = asyncio.run(once())
    where = [f"multicast {cot.multicast_group}:{cot.multicast_port} via "
             f"{cot.multicast_interface}"] if cot.multicast else []
    if cot.tak_host is not None:
        where.append(f"TAK server {cot.tak_host}:{cot.tak_port}")
    click.echo(f"sent {sent} CoT event(s) to {' and '.join(where)}")
