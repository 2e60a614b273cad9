"""What every `fieldkit` command group shares: the ``--dir`` option, enum choices, the
translation of library errors into one-line CLI errors, quiet logging for one-shot
commands, opening the node's incident log, and the parts' commands, loaded when run."""

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
from fieldkit.parts import Command, installed_parts, load_target
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


class _PartCommand(click.Command):
    """A part's command, imported only when it runs (or its help is asked for), so that
    `fieldkit` imports none of its parts, nor textual, aiortc or torch, up front."""

    def __init__(self, command: Command) -> None:
        super().__init__(command.name, help=command.help, short_help=command.help)
        self.target = command.target

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        real: click.Command = load_target(self.target)
        return real.make_context(info_name, args, parent=parent, **extra)


def add_part_commands(main: click.Group, bench: click.Group) -> None:
    """Add every installed part's commands to `fieldkit` and `fieldkit bench`."""
    for part in installed_parts():
        for command in part.commands:
            (bench if command.bench else main).add_command(_PartCommand(command))
