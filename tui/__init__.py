"""The crew console (textual). ``fieldkit`` never imports this package.

Run it with ``fieldkit tui``; :class:`FieldkitApp` is the app, :class:`NodeClient` its
client for the node's local API and live event stream.
"""

import logging

from tui._app import FieldkitApp, LinkState
from tui._client import ClientError, NodeClient, NodeError, NodeUnreachable, StreamEvent
from tui._model import BoardModel, Filter, FilterError

__all__ = [
    "BoardModel",
    "ClientError",
    "FieldkitApp",
    "Filter",
    "FilterError",
    "LinkState",
    "NodeClient",
    "NodeError",
    "NodeUnreachable",
    "StreamEvent",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
