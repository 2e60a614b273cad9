"""Provisioning a fleet on one machine: node directories for HQ and trucks, each truck
trusting HQ's key, and an HQ-signed roster of all of them installed on every node.

Used by the demo, the benchmark and the tests; a real fleet does the same with
`fieldkit init`, `fieldkit sync roster add` on HQ and `fieldkit sync roster import`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from fieldkit.config import Config, load_config
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.nodedir import init_node_dir
from fieldkit.store import open_node_store
from sync.roster import RosterEntry, Trust, issue_update, save_roster, trust_from_config


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def configure(node_dir: Path, *, port: int = 0, trust: Mapping[str, str] | None = None,
              sync: Mapping[str, object] | None = None,
              peers: Mapping[str, str] | None = None) -> None:
    """Edit a fresh node's config: API port, trusted keys, a [sync] section and peers."""
    path = node_dir / "fieldkit.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("port = 8470", f"port = {port}")
    lines = "".join(f"{n} = {_toml_value(k)}\n" for n, k in (trust or {}).items())
    text = text.replace("[trust.nodes]\n", "[trust.nodes]\n" + lines)
    text += "\n[sync]\n" + "".join(f"{k} = {_toml_value(v)}\n"
                                   for k, v in (sync or {}).items())
    for name, url in (peers or {}).items():
        text += f"\n[[sync.peers]]\nname = {_toml_value(name)}\nurl = {_toml_value(url)}\n"
    path.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def open_node(config: Config) -> Iterator[tuple[IncidentLog, Trust]]:
    """The node's incident log and trust, opened directly (the node need not run)."""
    identity = NodeIdentity.load(config.node.name, config.path(config.node.key_file))
    with open_node_store(config) as store:
        log = IncidentLog(store, identity, Keyring.from_names(identity, config.trust.nodes))
        yield log, trust_from_config(log, config)


def provision_fleet(root: Path, trucks: list[str], hq: str = "HQ", *,
                    sync: Mapping[str, object] | None = None,
                    ports: Mapping[str, int] | None = None,
                    peers: Mapping[str, Mapping[str, str]] | None = None,
                    hq_urls: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Make ``root/NAME`` for HQ and each truck; returns name -> node directory.

    :param sync: ``[sync]`` settings for every node (``hq`` is set for you).
    :param ports: API port per node (default 0: any free port).
    :param peers: per node, peer name -> URL.
    :param hq_urls: per truck, the URL it reaches HQ at.
    """
    dirs: dict[str, Path] = {}
    keys: dict[str, str] = {}
    for name in [hq, *trucks]:
        result = init_node_dir(root / name, role="hq" if name == hq else "truck", name=name)
        dirs[name], keys[name] = root / name, result.public_key
    for name, node_dir in dirs.items():
        settings: dict[str, object] = {"hq": hq, **(sync or {})}
        if hq_urls and name in hq_urls:
            settings["hq_url"] = hq_urls[name]
        configure(node_dir, port=(ports or {}).get(name, 0),
                  trust={} if name == hq else {hq: keys[hq]}, sync=settings,
                  peers=(peers or {}).get(name))
    with open_node(load_config(dirs[hq])) as (log, trust):
        roster = issue_update(log, trust, {n: RosterEntry(keys[n], "truck") for n in trucks})
    for name in trucks:
        with open_node(load_config(dirs[name])) as (log, _):
            save_roster(log, roster)
    return dirs
