"""`fieldkit demo`, added to `fieldkit` through the demo part's entry point (loaded only
when it runs)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from demo.run import LOG_FILE, demo_workspace, run_demo
from fieldkit.clishared import cli_errors
from fieldkit.logsetup import setup_logging


@click.command("demo")
@click.option("--headless", is_flag=True,
              help="No console: print the story as a timeline, then a summary, and exit.")
@click.option("--duration", type=click.FloatRange(min=1),
              help="Seconds to run (default: until Ctrl-C; 20 with --headless).")
@click.option("--dir", "work_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the demo's node directories and log here (default: a temporary "
                   "directory).")
@click.option("--seed", type=int, default=7, show_default=True,
              help="Random seed of where the scripted incidents are.")
@cli_errors
def demo(headless: bool, duration: float | None, work_dir: Path | None, seed: int) -> None:
    """Two trucks and HQ on loopback, a camera, a drone and scripted crews."""
    with demo_workspace(work_dir) as root:
        # The terminal is the console's or the timeline's: log records and library
        # warnings go to the demo's log file.
        setup_logging("INFO", file=root / LOG_FILE)
        if not headless:  # the console (imported here only: headless loads no textual)
            from demo.console import run_demo_console

            run_demo_console(root, seed, duration)
            return
        click.echo(f"demo in {root} (log: {LOG_FILE}"
                   f"{'' if work_dir else ', removed at the end: keep it with --dir'})")
        summary = asyncio.run(run_demo(root, duration=duration or 20.0, seed=seed,
                                       echo=click.echo))
        click.echo(summary)
