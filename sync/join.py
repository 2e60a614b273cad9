"""Joining the fleet at provisioning time: from a USB stick, or from HQ's address.

The stick HQ prepares holds ``fieldkit/roster.json`` (``fieldkit sync roster show --json``
on HQ) and optionally ``fieldkit/hq_url`` (one line). The roster names its issuer, HQ,
and HQ's key: the stick, carried by hand, is the trust anchor (pin the key with
``--hq-key`` to check it too). Joining writes HQ into ``[trust.nodes]`` and ``[sync]``,
adopts the roster, and leaves ``fieldkit/enrol/NAME.pub`` on the stick so HQ can add the
truck (``fieldkit sync roster add NAME KEY``). From an HQ URL alone, HQ's name and key
must be given; the roster then arrives with the first sync once HQ has added the truck.
Joining again with the same HQ changes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fieldkit.config import CONFIG_FILE, Config, load_config, parse_config, validate_config
from fieldkit.errors import ConfigError, IdentityError
from fieldkit.identity import Keyring, NodeIdentity, decode_public_key
from fieldkit.log import IncidentLog
from fieldkit.store import Store
from sync.config import SyncSection
from sync.errors import RosterError
from sync.roster import Roster, adopt, trust_from_config

STICK_DIR = "fieldkit"


class JoinError(ConfigError):
    """The fleet cannot be joined with what was given; nothing was changed."""


@dataclass(frozen=True, slots=True)
class JoinResult:
    """What :func:`join_fleet` did."""

    hq: str
    """HQ's node name."""
    config_changed: bool
    """Whether ``fieldkit.toml`` was rewritten."""
    roster_version: int | None
    """The roster adopted (None: none given, it comes with the first sync)."""
    enrolment: Path | None
    """The request left for HQ on the stick."""
    node: str
    """This node's name, for HQ's `fieldkit sync roster add`."""
    public_key: str
    """This node's key, for the same command."""


def join_fleet(node_dir: Path, *, stick: Path | None = None, hq_url: str | None = None,
               hq_name: str | None = None, hq_key: str | None = None) -> JoinResult:
    """Make the node in ``node_dir`` a member of the fleet (see the module docstring)."""
    config = load_config(node_dir)
    identity = NodeIdentity.load(config.node.name, config.path(config.node.key_file))
    roster = None
    if stick is not None:
        folder = stick / STICK_DIR
        try:
            roster = Roster.loads((folder / "roster.json").read_bytes())
        except OSError as exc:
            raise JoinError(f"no roster on the stick: {folder / 'roster.json'}: "
                            f"{exc.strerror}") from exc
        except RosterError as exc:
            raise JoinError(f"{folder / 'roster.json'}: {exc}") from exc
        entry = roster.nodes.get(roster.issuer)
        if entry is None or entry.role != "hq":
            raise JoinError(f"roster issuer {roster.issuer!r} is not an HQ node of the roster")
        if hq_name is not None and hq_name != roster.issuer:
            raise JoinError(f"the stick's roster is issued by {roster.issuer}, not {hq_name}")
        if hq_key is not None and hq_key != entry.key:
            raise JoinError(f"the stick's HQ key for {roster.issuer} does not match --hq-key")
        hq_name, hq_key = roster.issuer, entry.key
        if not roster.signed_by(Keyring.from_names(identity, {hq_name: hq_key})):
            raise JoinError(f"{folder / 'roster.json'}: signature does not verify with "
                            f"{hq_name}'s key")
        url_file = folder / "hq_url"
        if hq_url is None and url_file.is_file():
            hq_url = url_file.read_text(encoding="utf-8").strip() or None
    if hq_name is None or hq_key is None:
        raise JoinError("give a USB stick with the roster, or --hq-name and --hq-key")
    try:
        decode_public_key(hq_key)
    except IdentityError as exc:
        raise JoinError(f"HQ key: {exc}") from exc
    changed = _write_config(node_dir, config, hq_name, hq_key, hq_url)
    config = load_config(node_dir)
    version = None
    if roster is not None:
        with Store(config.path(config.node.database)) as store:
            log = IncidentLog(store, identity, Keyring.from_names(identity, config.trust.nodes))
            trust = trust_from_config(log, config)
            try:
                adopt(log, trust, roster)
            except RosterError as exc:
                raise JoinError(f"roster refused: {exc}") from exc
            version = roster.version
    enrolment = None
    if stick is not None:
        enrolment = stick / STICK_DIR / "enrol" / f"{identity.name}.pub"
        enrolment.parent.mkdir(parents=True, exist_ok=True)
        enrolment.write_text(f"{identity.name} {identity.public_key_b64}\n", encoding="utf-8")
    return JoinResult(hq_name, changed, version, enrolment, identity.name,
                      identity.public_key_b64)


def _write_config(node_dir: Path, config: Config, hq: str, key: str, url: str | None) -> bool:
    """Add HQ to ``[trust.nodes]`` and ``[sync]`` by editing the text (comments stay)."""
    held_key = config.trust.nodes.get(hq)
    if held_key is not None and held_key != key:
        raise JoinError(f"trust.nodes already holds a different key for {hq}")
    if config.section(SyncSection).hq not in (None, hq):
        raise JoinError(f"already joined to HQ {config.section(SyncSection).hq}, not {hq}")
    if config.section(SyncSection).hq_url not in (None, url) and url is not None:
        raise JoinError(f"sync.hq_url is already {config.section(SyncSection).hq_url}")
    path = node_dir / CONFIG_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    if held_key is None:
        at = _header(lines, "[trust.nodes]")
        if at is None:
            lines += ["", "[trust.nodes]"]
            at = len(lines) - 1
        lines.insert(at + 1, f'{hq} = "{key}"')
    add = [f'hq = "{hq}"'] if config.section(SyncSection).hq is None else []
    if url is not None and config.section(SyncSection).hq_url is None:
        add.append(f'hq_url = "{url}"')
    if add:
        at = _header(lines, "[sync]")
        if at is None:
            lines += ["", "[sync]", "# Joined with `fieldkit sync join`."]
            at = len(lines) - 1
        lines[at + 1:at + 1] = add
    if held_key is not None and not add:
        return False
    text = "\n".join(lines) + "\n"
    validate_config(parse_config(text, str(path)), node_dir, str(path))  # before writing
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True


def _header(lines: list[str], header: str) -> int | None:
    return next((i for i, line in enumerate(lines) if line.strip() == header), None)
