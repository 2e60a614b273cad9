"""fieldkit: the command-truck node, its incident log, local API and CLI."""

import logging

from fieldkit.errors import FieldkitError
from fieldkit.fold import Incident
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.intake import ApplyReport, Rejection
from fieldkit.log import IncidentLog
from fieldkit.store import Store

__all__ = [
    "ApplyReport",
    "FieldkitError",
    "Incident",
    "IncidentLog",
    "Keyring",
    "NodeIdentity",
    "Rejection",
    "Store",
]
__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
