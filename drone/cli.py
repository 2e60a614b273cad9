"""`fieldkit drone ...`: the simulator and a look at the telemetry a node has stored.

A thin skin, as fieldkit/cli.py: parse, call the library, print. FieldkitError becomes a
one-line message and exit status 1.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import click

from drone.config import DronesSection
from drone.record import load_open_alerts
from drone.rules import age_text
from drone.signing import SigningKey
from drone.sim import SimSettings, SimVehicle
from drone.video.cli import publish as publish_command
from fieldkit.clishared import cli_errors
from fieldkit.config import load_config
from fieldkit.store import Store
from fieldkit.tasks import wait_event


@click.group()
def drone() -> None:
    """Drone telemetry and video: the MAVLink simulator, signing keys, stored vehicle
    state, and publishing a feed to a node."""


@drone.command("sim")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Where to send (the node's udp_listen link).")
@click.option("--port", type=click.IntRange(1, 65535), default=14550, show_default=True)
@click.option("--drones", "count", type=click.IntRange(1, 32), default=1, show_default=True,
              help="Vehicles on the one link, system ids 1..N.")
@click.option("--autopilot", type=click.Choice(["ardupilot", "px4"]), default="ardupilot",
              show_default=True)
@click.option("--lat", type=click.FloatRange(-89, 89), default=21.4225, show_default=True,
              help="Centre of the circle flown.")
@click.option("--lon", type=click.FloatRange(-180, 180), default=39.8262, show_default=True)
@click.option("--alt", type=click.FloatRange(1, 1000), default=60.0, show_default=True,
              help="Metres above home.")
@click.option("--radius", type=click.FloatRange(10, 5000), default=150.0, show_default=True,
              help="Metres.")
@click.option("--speed", type=click.FloatRange(0.5, 40), default=8.0, show_default=True,
              help="Ground speed, m/s.")
@click.option("--battery", type=click.FloatRange(0, 100), default=95.0, show_default=True,
              help="Battery % at take-off (drains 2%/min).")
@click.option("--signing-key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Sign every packet with this MAVLink 2 key (hex or passphrase).")
@click.option("--duration", type=click.FloatRange(min=0.1),
              help="Seconds to fly (default: until Ctrl-C).")
@click.option("--report", type=click.FloatRange(min=0.5), default=5.0, show_default=True,
              help="Seconds between status lines.")
@cli_errors
def sim(host: str, port: int, count: int, autopilot: str, lat: float, lon: float,
        alt: float, radius: float, speed: float, battery: float,
        signing_key_file: Path | None, duration: float | None, report: float) -> None:
    """Fly simulated drones in circles, sending real MAVLink 2 over UDP."""
    key = SigningKey.from_file(signing_key_file) if signing_key_file else None
    sims = [SimVehicle(SimSettings(
        host=host, port=port, system_id=i + 1, autopilot=autopilot,  # type: ignore[arg-type]
        lat=lat + i * 0.002, lon=lon, alt_m=alt, radius_m=radius, speed_ms=speed,
        battery_pct=battery, key=key)) for i in range(count)]
    signed = "signed" if key else "unsigned"
    ids = "system id 1" if count == 1 else f"system ids 1..{count}"
    click.echo(f"flying {count} {autopilot} drone(s), {ids}, {signed}, to udp {host}:{port}; "
               "Ctrl-C to land")
    asyncio.run(_fly(sims, duration, report, click.echo))


async def _fly(sims: list[SimVehicle], duration: float | None, report: float,
               echo: Callable[[str], None]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    start = time.monotonic()
    for s in sims:
        await s.start()
    try:
        while not stop.is_set():
            left = None if duration is None else duration - (time.monotonic() - start)
            if left is not None and left <= 0:
                break
            await wait_event(stop, min(report, left or report))
            t = time.monotonic() - start
            for s in sims:
                lat, lon, heading, _ = s.where(t)
                echo(f"t={t:5.1f}s drone {s.settings.system_id}: {lat:.6f}, {lon:.6f} "
                     f"heading {heading:3.0f} alt {s.settings.alt_m:.0f} m, "
                     f"{s.sent} packets sent ({s.sent / t:.0f}/s)")
    finally:
        for s in sims:
            await s.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    echo(f"landed: {sum(s.sent for s in sims)} packets sent")


@drone.command("key")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path),
                default="mavlink.key")
@cli_errors
def key(path: Path) -> None:
    """Make a MAVLink signing key file (a random passphrase, mode 0600) for a link's
    signing_key_file; the pilot enters the same passphrase in the ground station."""
    SigningKey.create_file(path)
    click.echo(f"wrote {path} (mode 0600): set signing_key_file = \"{path.name}\" on the "
               "link, and in MAVProxy run `signing setup` with the passphrase it holds")


@drone.command("status")
@click.option("--dir", "node_dir", type=click.Path(file_okay=False, path_type=Path),
              default=".", envvar="FIELDKIT_DIR", show_default=True,
              help="Node directory (env FIELDKIT_DIR).")
@cli_errors
def status(node_dir: Path) -> None:
    """The latest stored sample of each drone, and its open alerts."""
    config = load_config(node_dir)
    with Store(config.path(config.node.database)) as store:
        conn = store.conn
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT * FROM drone_samples WHERE id IN"
            " (SELECT max(id) FROM drone_samples GROUP BY vehicle) ORDER BY vehicle").fetchall()
        alerts = sorted(load_open_alerts(store).items())
    if not rows:
        click.echo("no drone telemetry stored yet")
    stale = config.section(DronesSection).stale
    for r in rows:
        age = time.time() - r["at_ms"] / 1000
        pos = "no position" if r["lat"] is None else f"{r['lat']:.6f}, {r['lon']:.6f}"
        position_age = age + (r["position_age_s"] or 0.0)
        if r["lat"] is not None and position_age > stale.position_s:
            pos += f" ({age_text(position_age)} old)"
        click.echo(
            f"{r['vehicle']:<12} {r['autopilot'] or '?':<9} {r['mode'] or '?':<10} "
            f"{'ARMED' if r['armed'] else 'disarmed':<8} {pos} "
            f"alt {_num(r['alt_rel_m'])} m  batt {_num(r['battery_pct'])}%  "
            f"gps {r['gps_fix'] if r['gps_fix'] is not None else '?'}  "
            f"loss {_num(r['loss_pct'])}%  sampled {age:.0f} s ago")
    for (vehicle, rule), alert in alerts:
        click.echo(f"open alert: {vehicle} {rule} -> incident {alert.incident}")


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


drone.add_command(publish_command)  # drone/video/cli.py: aiortc loads only when it runs


@click.command("mavlink")
@click.option("--messages", type=click.IntRange(1000), default=100_000, show_default=True)
@click.option("--vehicles", type=click.IntRange(1, 32), default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable figures.")
@cli_errors
def bench_mavlink(messages: int, vehicles: int, as_json: bool) -> None:
    """MAVLink telemetry parsed and applied against bare pymavlink parsing."""
    from drone.bench import run_mavlink_bench

    result = run_mavlink_bench(messages=messages, vehicles=vehicles,
                               progress=lambda msg: click.echo(msg, err=True))
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else result.table())
