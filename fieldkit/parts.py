"""Parts as plugins: what each part of a node declares, and finding the installed ones.

A part (cameras, drones, webrtc, hardware, sync, hq, ...) declares itself with a
:class:`Part` object named by an entry point in the ``fieldkit.parts`` group, as datasette
and pluggy plugins do::

    [project.entry-points."fieldkit.parts"]
    drones = "drone.part:PART"

The module an entry point names must stay light (pydantic only): every config load
imports it for the part's section. What the part runs (:attr:`Part.install`) and its
commands are named as ``"module:attr"`` strings and imported only when the node enables
the part or a user runs the command, so ``fieldkit`` imports none of its parts.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from fieldkit.errors import ConfigError

if TYPE_CHECKING:
    from aiohttp import web

    from fieldkit.background import Job
    from fieldkit.config.root import Config
    from fieldkit.log import IncidentLog

GROUP = "fieldkit.parts"

Installer = Callable[["web.Application"], None]
"""Installs one part on the node's API application: routes and a ``cleanup_ctx``, which
starts after the store and the live feed (every part writes through them)."""


@dataclass(frozen=True)
class Command:
    """A command a part adds to `fieldkit` (or to `fieldkit bench`), loaded when run."""

    name: str
    target: str
    """``"module:attr"`` of the click command."""
    help: str
    bench: bool = False
    """Under `fieldkit bench` rather than at the top level."""


def _always(config: Config) -> bool:
    return True


@dataclass(frozen=True)
class Part:
    """What one part declares through its ``fieldkit.parts`` entry point."""

    name: str
    """The entry point's name; also the key of its config section."""
    order: int
    """Start order beside the API (lower first); parts stop in reverse."""
    section: type[BaseModel] | None = None
    """Its ``[name]`` section of ``fieldkit.toml``, validated with every config."""
    install: str | None = None
    """``"module:function"`` of its :data:`Installer`: what serves requests (routes, state
    they read), run in every API worker; None: the part serves nothing."""
    background: str | None = None
    """``"module:function"`` of its background :data:`~fieldkit.background.Job` (sessions it
    starts, subscriptions, probes, senders): run by one process per database
    (:mod:`fieldkit.background`), never once per API worker."""
    enabled: Callable[[Config], bool] = _always
    """Whether the node runs it under this config (its installer is imported only then)."""
    commands: tuple[Command, ...] = ()
    trust: str | None = None
    """``"module:function"`` giving a log, beside the configured nodes' keys, every key the
    part trusts (``function(log, config)``: the sync part's fleet roster), for commands
    that verify events without a running node (:func:`install_trust`)."""

    def installer(self) -> Installer:
        if self.install is None:
            raise ConfigError(f"part {self.name!r} runs nothing on a node")
        installer: Installer = load_target(self.install)
        return installer


def load_target(target: str) -> Any:
    """The object named by ``"module:attr"``, importing its module."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@functools.cache
def installed_parts() -> tuple[Part, ...]:
    """Every part installed in this environment, in start order."""
    parts: list[Part] = []
    for entry in importlib.metadata.entry_points(group=GROUP):
        try:
            part = entry.load()
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"part {entry.name!r} ({entry.value}) cannot be loaded: "
                              f"{exc}") from exc
        if not isinstance(part, Part) or part.name != entry.name:
            raise ConfigError(f"entry point {entry.name!r} in {GROUP} ({entry.value}) is not "
                              f"a fieldkit.parts.Part named {entry.name!r}")
        parts.append(part)
    return tuple(sorted(parts, key=lambda p: (p.order, p.name)))


def enabled_installers(config: Config) -> tuple[Installer, ...]:
    """The installers of the parts ``config`` enables, in start order."""
    return tuple(p.installer() for p in installed_parts()
                 if p.install is not None and p.enabled(config))


def enabled_jobs(config: Config) -> tuple[Job, ...]:
    """The background jobs of the parts ``config`` enables, in start order."""
    return tuple(load_target(p.background) for p in installed_parts()
                 if p.background is not None and p.enabled(config))


def lazy_exports(package: str, homes: dict[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a part's package (PEP 562): each name of
    ``homes`` (name -> module) is imported from its module on first use, so importing the
    package (as reading the part's declaration does) loads none of its dependencies."""

    def getattr_(name: str) -> Any:
        if name in homes:
            return getattr(importlib.import_module(homes[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted(homes)

    return getattr_, dir_


def install_trust(log: IncidentLog, config: Config) -> None:
    """Give ``log`` every key the installed parts trust (see :attr:`Part.trust`)."""
    for part in installed_parts():
        if part.trust is not None:
            load_target(part.trust)(log, config)
