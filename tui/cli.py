"""`fieldkit tui` and `fieldkit bench tui`.

``fieldkit.cli`` registers these lazily (by ``module:attr`` name), so importing
``fieldkit`` never imports this package or textual.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from fieldkit.config import load_config
from fieldkit.errors import FieldkitError
from fieldkit.logsetup import setup_logging
from tui._app import FieldkitApp
from tui._client import ClientError, NodeClient, read_token

logger = logging.getLogger(__name__)


def node_target(node_dir: Path, url: str | None, token_file: Path | None
                ) -> tuple[str, str | None]:
    """(url, token): given ones, else the local node's from its config."""
    token = read_token(token_file) if token_file is not None else None
    if url is not None:
        return url, token
    config = load_config(node_dir)
    host = config.api.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (bound everywhere: talk to loopback)
        host = "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    if token is None and not config.api.is_loopback:
        token = read_token(config.path(config.api.token_file))
    return f"http://{host}:{config.api.port}", token


def console_logging() -> None:
    """Log records go to textual's log (devtools), never over the console's screen."""
    from textual.logging import TextualHandler

    setup_logging("WARNING", handler=TextualHandler())


@click.command("tui")
@click.option("--url", help="Node API, e.g. http://10.0.0.2:8470 (default: the local node).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Bearer token for a node bound beyond loopback.")
@click.option("--dir", "node_dir", type=click.Path(file_okay=False, path_type=Path), default=".",
              envvar="FIELDKIT_DIR", show_default=True,
              help="Node directory whose config names the local node (env FIELDKIT_DIR).")
@click.option("--bell", is_flag=True, help="Ring the terminal bell on new incidents.")
@click.option("--high-contrast", is_flag=True, help="Start in the high-contrast theme.")
def tui(url: str | None, token_file: Path | None, node_dir: Path, bell: bool,
        high_contrast: bool) -> None:
    """The crew console: incidents board, detail, actions, map, cameras, drones, sync."""
    try:
        target, token = node_target(node_dir, url, token_file)
    except (FieldkitError, ClientError) as exc:
        raise click.ClickException(str(exc)) from exc
    console_logging()
    FieldkitApp(NodeClient(target, token), bell=bell, high_contrast=high_contrast).run()


@click.command("tui")
@click.option("--incidents", type=click.IntRange(100), default=10_000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable figures.")
def bench_tui(incidents: int, as_json: bool) -> None:
    """Console first paint and filter/sort keystrokes against a non-virtualised baseline."""
    from tui._bench import run_tui_bench

    result = run_tui_bench(incidents=incidents, progress=lambda m: click.echo(m, err=True))
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else result.table())
