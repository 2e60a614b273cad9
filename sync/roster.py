"""The fleet roster: which nodes belong to the fleet, with their keys, signed by HQ.

HQ issues a new roster version to add or revoke a node; every node keeps the newest
valid version it has seen (in the ``sync_roster`` table) and passes it on in every sync
session, so a roster update spreads the same way events do.

The roster feeds the :class:`~fieldkit.identity.Keyring` that the incident log checks
event origins against (:meth:`Trust.keyring`): trusted = ``[trust.nodes]`` of the config,
plus every roster node, minus every revoked node. A roster entry overrides a config
entry of the same name (HQ is the authority on keys; a key rotation is a new roster).
A revoked node's new events are refused as ``unknown_origin``; events already held stay.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from fieldkit import wirejson
from fieldkit.errors import IdentityError
from fieldkit.events import canonical_json
from fieldkit.hlc import wall_ms
from fieldkit.identity import Keyring, NodeIdentity, decode_public_key
from fieldkit.log import IncidentLog
from sync.config import SyncSection
from sync.errors import RosterError

if TYPE_CHECKING:
    from fieldkit.config import Config

logger = logging.getLogger(__name__)

ROSTER_FORMAT = 1
_CONTEXT = b"fieldkit/roster/v1\x00"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
Role = Literal["truck", "hq"]
NodeStatus = Literal["trusted", "revoked", "unknown"]


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One node of the fleet."""

    key: str
    """Base64 raw Ed25519 public key."""
    role: Role
    """'truck' or 'hq'."""
    revoked: bool = False
    """A revoked node may not sync, and its new events are refused."""
    fleet_wide: bool = False
    """HQ sends this node's whole log to every truck (see :mod:`sync.scope`)."""

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "role": self.role, "revoked": self.revoked,
                "fleet_wide": self.fleet_wide}


@dataclass(frozen=True, slots=True)
class Roster:
    """A signed roster document."""

    version: int
    """Increases with every update HQ issues; the highest valid one wins."""
    issuer: str
    """Name of the HQ node that signed it."""
    issued_at: int
    """Wall-clock milliseconds at signing."""
    nodes: Mapping[str, RosterEntry]
    """Node name -> entry."""
    sig: str
    """Base64 Ed25519 signature of the issuer over the canonical body."""

    def body(self) -> dict[str, Any]:
        return {"format": ROSTER_FORMAT, "version": self.version, "issuer": self.issuer,
                "issued_at": self.issued_at,
                "nodes": {n: e.to_json() for n, e in sorted(self.nodes.items())}}

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "sig": self.sig}

    def dumps(self) -> str:
        return canonical_json(self.to_json())

    def signed_by(self, keyring: Keyring) -> bool:
        try:
            sig = base64.b64decode(self.sig, validate=True)
        except (binascii.Error, ValueError):
            return False
        return keyring.verify(self.issuer, sig, _CONTEXT + canonical_json(self.body()).encode())

    @classmethod
    def issue(cls, hq: NodeIdentity, version: int,
              nodes: Mapping[str, RosterEntry]) -> Roster:
        unsigned = cls(version, hq.name, wall_ms(), dict(nodes), "")
        sig = hq.sign(_CONTEXT + canonical_json(unsigned.body()).encode())
        return cls(version, hq.name, unsigned.issued_at, dict(nodes),
                   base64.b64encode(sig).decode("ascii"))

    @classmethod
    def parse(cls, data: Any) -> Roster:
        """Check the document's shape (not its signature)."""
        if not isinstance(data, dict):
            raise RosterError("roster must be a JSON object")
        expected = {"format", "version", "issuer", "issued_at", "nodes", "sig"}
        if set(data) != expected:
            raise RosterError(f"roster fields must be {', '.join(sorted(expected))}")
        if data["format"] != ROSTER_FORMAT:
            raise RosterError(f"roster format {data['format']!r} is not {ROSTER_FORMAT}")
        for name in ("version", "issued_at"):
            if type(data[name]) is not int or data[name] < 0:
                raise RosterError(f"roster {name} {data[name]!r} is not a non-negative integer")
        if not isinstance(data["issuer"], str) or not _NAME_RE.match(data["issuer"]):
            raise RosterError(f"roster issuer {data['issuer']!r} is not a node name")
        if not isinstance(data["sig"], str) or not isinstance(data["nodes"], dict):
            raise RosterError("roster sig must be a string and nodes an object")
        nodes: dict[str, RosterEntry] = {}
        for name, entry in data["nodes"].items():
            if not _NAME_RE.match(name):
                raise RosterError(f"roster node {name!r} is not a node name")
            if (not isinstance(entry, dict)
                    or set(entry) != {"key", "role", "revoked", "fleet_wide"}
                    or entry["role"] not in ("truck", "hq")
                    or not isinstance(entry["revoked"], bool)
                    or not isinstance(entry["fleet_wide"], bool)
                    or not isinstance(entry["key"], str)):
                raise RosterError(f"roster node {name!r}: entry must have key, role "
                                  "('truck' or 'hq'), revoked and fleet_wide (booleans)")
            try:
                decode_public_key(entry["key"])
            except IdentityError as exc:
                raise RosterError(f"roster node {name!r}: key is not an Ed25519 key") from exc
            nodes[name] = RosterEntry(entry["key"], entry["role"], entry["revoked"],
                                      entry["fleet_wide"])
        return cls(data["version"], data["issuer"], data["issued_at"], nodes, data["sig"])

    @classmethod
    def loads(cls, text: str | bytes) -> Roster:
        try:
            return cls.parse(wirejson.loads(text))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RosterError(f"roster is not JSON: {exc}") from exc


class Trust:
    """Who this node trusts: config keys, the roster held, and the resulting keyring.

    :param identity: this node.
    :param configured: ``[trust.nodes]`` of the config (name -> base64 key).
    :param hq: name of the HQ node whose signature makes a roster valid, if any.
    :param role: this node's role.
    """

    def __init__(self, identity: NodeIdentity, configured: Mapping[str, str],
                 hq: str | None, role: Role) -> None:
        self.identity = identity
        self.configured = dict(configured)
        self.hq = hq if hq is not None else (identity.name if role == "hq" else None)
        self.role = role
        self.roster: Roster | None = None
        self._keyring = self._build()

    def _build(self) -> Keyring:
        trusted = dict(self.configured)
        if self.roster is not None:
            for name, entry in self.roster.nodes.items():
                if entry.revoked:
                    trusted.pop(name, None)
                elif name != self.identity.name:
                    trusted[name] = entry.key
        return Keyring.from_names(self.identity, trusted)

    def keyring(self) -> Keyring:
        return self._keyring

    def anchor(self) -> Keyring:
        """The keys a roster may be signed with: HQ's, from the config (or our own)."""
        if self.hq is None:
            return Keyring({})
        if self.hq == self.identity.name:
            return Keyring({self.hq: self.identity.public_key})
        key = self.configured.get(self.hq)
        return Keyring.from_names(self.identity, {self.hq: key}) if key else Keyring({})

    def status(self, name: str) -> NodeStatus:
        if self.roster is not None and name in self.roster.nodes \
                and self.roster.nodes[name].revoked:
            return "revoked"
        return "trusted" if name in self._keyring else "unknown"

    def role_of(self, name: str) -> Role:
        if self.roster is not None and name in self.roster.nodes:
            return self.roster.nodes[name].role
        if name == self.hq:
            return "hq"
        return "truck"

    def fleet_wide(self) -> set[str]:
        if self.roster is None:
            return set()
        return {n for n, e in self.roster.nodes.items() if e.fleet_wide and not e.revoked}

    @property
    def roster_version(self) -> int:
        return self.roster.version if self.roster is not None else 0

    def consider(self, roster: Roster) -> bool:
        """Adopt ``roster`` if it is newer than the one held and signed by HQ.

        Returns whether it was adopted; raises RosterError if it is newer but invalid.
        """
        if roster.version <= self.roster_version:
            return False
        if self.hq is None:
            raise RosterError("roster refused: this node has no sync.hq configured")
        if roster.issuer != self.hq:
            raise RosterError(f"roster refused: issued by {roster.issuer!r}, not HQ {self.hq!r}")
        if self.hq not in self.anchor():
            raise RosterError(f"roster refused: HQ {self.hq}'s public key is not in "
                              "[trust.nodes] of this node's config")
        if not roster.signed_by(self.anchor()):
            raise RosterError(f"roster version {roster.version} refused: not signed by "
                              f"{self.hq}'s key")
        old = self.roster_version
        self.roster = roster
        self._keyring = self._build()
        logger.info("roster version %d -> %d (%d nodes)", old, roster.version,
                    len(roster.nodes))
        return True


# --- persistence (the sync_roster table) ------------------------------------------------


def load_roster(log: IncidentLog) -> Roster | None:
    row = log.store.conn.execute("SELECT document FROM sync_roster WHERE id = 1").fetchone()
    return Roster.loads(row[0]) if row else None


def save_roster(log: IncidentLog, roster: Roster) -> None:
    with log.store.write() as conn:
        conn.execute(
            "INSERT INTO sync_roster (id, version, document) VALUES (1, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET version = excluded.version,"
            " document = excluded.document WHERE excluded.version > sync_roster.version",
            [roster.version, roster.dumps()])


def open_trust(log: IncidentLog, configured: Mapping[str, str], hq: str | None,
               role: Role) -> Trust:
    """Trust for ``log``'s node with the roster it holds; installs the keyring in ``log``."""
    trust = Trust(log.identity, configured, hq, role)
    held = load_roster(log)
    if held is not None:
        try:
            trust.consider(held)
        except RosterError as exc:
            logger.warning("roster held in the database is not usable: %s", exc)
    log.keyring = trust.keyring()
    return trust


def trust_from_config(log: IncidentLog, config: Config) -> Trust:
    """:func:`open_trust` with the node's configured nodes, HQ and role: what the sync
    part gives any command that verifies events (its ``trust`` in :mod:`sync.part`)."""
    return open_trust(log, config.trust.nodes, config.section(SyncSection).hq,
                      config.node.role)


def adopt(log: IncidentLog, trust: Trust, roster: Roster) -> bool:
    """Adopt a roster if newer and valid: store it and refresh ``log``'s keyring."""
    if not trust.consider(roster):
        return False
    save_roster(log, roster)
    log.keyring = trust.keyring()
    return True


def issue_update(log: IncidentLog, trust: Trust, changes: Mapping[str, RosterEntry | None]
                 ) -> Roster:
    """On HQ: a new roster version with ``changes`` (name -> entry; None removes)."""
    if trust.hq != log.identity.name:
        raise RosterError(f"only HQ ({trust.hq or 'not configured'}) can issue the roster; "
                          f"this node is {log.identity.name}")
    nodes = dict(trust.roster.nodes) if trust.roster is not None else {
        log.identity.name: RosterEntry(log.identity.public_key_b64, "hq")}
    for name, entry in changes.items():
        if entry is None:
            nodes.pop(name, None)
        else:
            nodes[name] = entry
    roster = Roster.issue(log.identity, trust.roster_version + 1, nodes)
    adopt(log, trust, roster)
    return roster
