"""`fieldkit hardware ...`: check a truck against its profile, show its budget (joining
the fleet is `fieldkit sync join`). Added to `fieldkit` by the hardware part
(:mod:`fieldkit.hardware.part`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from fieldkit.clishared import cli_errors
from fieldkit.hardware.checks import ITEMS, Machine, Outcome, format_results, run_checks
from fieldkit.hardware.profile import Profile, load_profile


@click.group()
def hardware() -> None:
    """The truck's hardware: check it against a profile, its budget."""


@hardware.command("check")
@click.argument("profile", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--skip", "skip", multiple=True, type=click.Choice(ITEMS),
              help="Leave an item out (repeatable).")
@click.option("--disk", "disk_path", type=click.Path(file_okay=False, path_type=Path),
              default="/", show_default=True, help="Filesystem that holds the node directory.")
@click.option("--timeout", type=click.FloatRange(0.1, 60), default=3.0, show_default=True,
              help="Seconds per network check (gpsd, each camera).")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@cli_errors
def check(profile: Path, skip: tuple[str, ...], disk_path: Path, timeout: float,
          as_json: bool) -> None:
    """Check this machine against PROFILE: pass/fail per item with the reason.

    Exit status 1 when any item fails; "absent" (no such sensor here) is not a failure.
    """
    truck = load_profile(profile)
    machine = Machine(disk_path=disk_path, timeout_s=timeout)
    results = asyncio.run(run_checks(truck, machine, frozenset(skip)))
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], indent=2))
    else:
        click.echo(f"{truck.truck.name}: {truck.compute.model}")
        click.echo(format_results(results))
    if any(r.outcome is Outcome.FAIL for r in results):
        raise SystemExit(1)


@hardware.command("budget")
@click.argument("profile", type=click.Path(dir_okay=False, path_type=Path))
@cli_errors
def budget(profile: Path) -> None:
    """Validate PROFILE and print its power and bandwidth budget."""
    click.echo(budget_text(load_profile(profile)))


def budget_text(truck: Profile) -> str:
    lines = [f"{truck.truck.name}: {truck.compute.model}", "power (W):"]
    lines += [f"  {name:<15} {watts:7.1f}" for name, watts in truck.loads.items()]
    lines.append(f"  {'total':<15} {truck.load_w:7.1f}  of {truck.power.output_w:.0f} W UPS")
    lines.append(f"  runtime on {truck.power.battery_wh:.0f} Wh at "
                 f"{truck.power.efficiency:.0%}: {truck.runtime_min:.0f} min "
                 f"(target {truck.power.runtime_min_target:.0f})")
    uplinks = {r.name: r.uplink_kbps for r in truck.radios if r.uplink_kbps}
    lines.append("bandwidth (kbit/s):")
    lines.append(f"  ingest (LAN)    {truck.ingest_kbps:7d}  "
                 f"({len(truck.cameras)} cameras, {len(truck.drones)} drones)")
    for name, kbps in uplinks.items():
        lines.append(f"  uplink {name:<8} {kbps:7d}")
    return "\n".join(lines)
