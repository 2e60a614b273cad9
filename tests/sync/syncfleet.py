"""Test fleets: real node directories (keys, configs, SQLite files) for trucks and HQ."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from fieldkit.config import Config, load_config
from sync.provision import open_node, provision_fleet

open_node_log = open_node


@dataclass
class Fleet:
    root: Path
    hq: str
    dirs: dict[str, Path] = field(default_factory=dict)

    def config(self, name: str) -> Config:
        return load_config(self.dirs[name])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_fleet(root: Path, trucks: list[str], hq: str = "HQ", *,
               sync: dict[str, object] | None = None, **kwargs: object) -> Fleet:
    """HQ plus trucks, background sync off unless ``sync`` turns it on."""
    settings = {"enabled": False, **(sync or {})}
    dirs = provision_fleet(root, trucks, hq, sync=settings, **kwargs)  # type: ignore[arg-type]
    return Fleet(root, hq, dirs)
