"""Sync between nodes: identity and trust, the replication protocol, HTTP and bundle
transports, discovery. Depends on the incident log's public API only.

- :mod:`sync.roster` the HQ-signed fleet roster, feeding the log's keyring
- :mod:`sync.auth` signed requests and responses (mutual authentication, no replay)
- :mod:`sync.protocol` batch encoding, version vectors, priority order
- :mod:`sync.scope` which origins a node offers to which peer
- :mod:`sync.session` the anti-entropy session (:class:`SyncEngine`)
- :mod:`sync.http` HTTP routes, client transport, node wiring
- :mod:`sync.bundle` bundle files (sneakernet)
- :mod:`sync.scheduler`, :mod:`sync.discovery` background sync and zeroconf
"""

import logging

from sync.errors import (
    AuthError,
    BundleError,
    PeerRefused,
    PeerUnreachable,
    ProtocolError,
    RosterError,
)
from sync.roster import Roster, RosterEntry, Trust
from sync.session import SessionReport, SyncEngine

__all__ = [
    "AuthError",
    "BundleError",
    "PeerRefused",
    "PeerUnreachable",
    "ProtocolError",
    "Roster",
    "RosterEntry",
    "RosterError",
    "SessionReport",
    "SyncEngine",
    "Trust",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
