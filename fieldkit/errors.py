"""Exceptions raised by fieldkit.

Callers pick how broadly to catch::

    FieldkitError
     ├── ConfigError          a config file or value is invalid
     ├── IdentityError        a key file is missing, unreadable or malformed
     ├── StoreError           the SQLite store cannot be opened or written
     │    └── SchemaTooNewError   the database was written by a newer fieldkit
     ├── NotFoundError        no incident (or blob) with that id
 │    └── GoneError           the blob was held and pruned by retention
     ├── InvalidActionError   a request is well-formed but not allowed (bad value, no-op)
     ├── EventError           an event envelope is malformed
     ├── IngestError          a camera, drone or telemetry input failed
     └── SyncError            a sync exchange with a peer failed

Errors from sqlite3, cryptography, pydantic and aiohttp are translated into these at
the boundary where they occur, raised ``from`` the original.
"""

from __future__ import annotations


class FieldkitError(Exception):
    """Base class of every error fieldkit raises on purpose."""


class ConfigError(FieldkitError):
    """A config file or value is invalid; the message names the key and what is expected."""


class IdentityError(FieldkitError):
    """A node key file is missing, unreadable or malformed."""


class StoreError(FieldkitError):
    """The SQLite store cannot be opened or written."""


class SchemaTooNewError(StoreError):
    """The database holds migrations this version of fieldkit does not know."""


class NotFoundError(FieldkitError):
    """No incident or blob matches the id given."""


class GoneError(NotFoundError):
    """A blob this node held was pruned by retention; the message says when."""


class InvalidActionError(FieldkitError):
    """A request is well-formed but its values are not allowed."""


class EventError(FieldkitError):
    """An event envelope is malformed (wrong types, sizes or encoding)."""


class IngestError(FieldkitError):
    """A camera, drone or telemetry input failed."""


class SyncError(FieldkitError):
    """A sync exchange with a peer failed."""
