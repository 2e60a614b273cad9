"""Errors of the sync package, all under :class:`fieldkit.errors.SyncError`::

    SyncError
     ├── RosterError        a roster is malformed, unsigned, stale or cannot be issued here
     ├── AuthError          a request or response failed authentication (carries a status)
     ├── ProtocolError      a payload from a peer or a bundle is malformed
     │    └── BundleError    a bundle file is truncated or corrupted (says where)
     ├── PeerUnreachable    no connection, a cut connection or a timeout
     └── PeerRefused        the peer answered with an error status

Errors from aiohttp, zlib and json are mapped to these at one boundary
(:mod:`sync.http` for the network, :mod:`sync.protocol` for payloads) and raised
``from`` the original.
"""

from __future__ import annotations

from fieldkit.errors import SyncError


class RosterError(SyncError):
    """A roster is malformed, not signed by HQ, older than the one held, or cannot be
    issued by this node."""


class AuthError(SyncError):
    """Authentication failed. ``status`` is 401 (who you are is not proven) or 403
    (proven, or claimed, but not allowed: unknown or revoked node)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ProtocolError(SyncError):
    """A sync payload is malformed."""


class BundleError(ProtocolError):
    """A bundle file is truncated or corrupted; the message says where."""


class PeerUnreachable(SyncError):
    """The peer could not be reached, or the connection was cut or timed out."""


class PeerRefused(SyncError):
    """The peer answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
