"""What every `fieldkit` command group shares: the ``--dir`` option, enum choices, the
translation of library errors into one-line CLI errors, quiet logging for one-shot
commands, and opening the node's incident log."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from fieldkit.config import Config, load_config
from fieldkit.errors import FieldkitError
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.logsetup import setup_logging
from fieldkit.store import open_node_store

F = TypeVar("F", bound=Callable[..., Any])

dir_option = click.option(
    "--dir", "node_dir", type=click.Path(file_okay=False, path_type=Path), default=".",
    envvar="FIELDKIT_DIR", show_default=True, help="Node directory (env FIELDKIT_DIR).")


def cli_errors(fn: F) -> F:
    """Turn library errors into clean CLI errors (exit 1, no traceback)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FieldkitError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def quiet_logging(config: Config) -> None:
    """One-shot commands print results on stdout; only warnings (or debug) go to stderr."""
    setup_logging("DEBUG" if config.logging.level == "DEBUG" else "WARNING")


def enum_choice(enum: Any) -> click.Choice:
    """A click choice of an enum's values."""
    return click.Choice([e.value for e in enum])


@contextlib.contextmanager
def open_log(node_dir: Path) -> Iterator[IncidentLog]:
    """The incident log of the node in ``node_dir``, for a one-shot command."""
    config = load_config(node_dir)
    quiet_logging(config)
    identity = NodeIdentity.load(config.node.name, config.path(config.node.key_file))
    with open_node_store(config) as store:
        yield IncidentLog(store, identity, Keyring.from_names(identity, config.trust.nodes),
                          max_skew_s=config.trust.max_clock_skew_s)
