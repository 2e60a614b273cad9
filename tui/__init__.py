"""The crew console (textual). ``fieldkit`` never imports its modules.

Run it with ``fieldkit tui``; :class:`FieldkitApp` is the app, :class:`NodeClient` its
client for the node's local API and live event stream.

Nothing loads up front (the console part, :mod:`tui.part`, is read with every config):
names below load their module, and textual, on first use.
"""

from __future__ import annotations

import logging

from fieldkit.parts import lazy_exports

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

_HOME = {
    "BoardModel": "tui._model",
    "ClientError": "tui._client",
    "FieldkitApp": "tui._app",
    "Filter": "tui._model",
    "FilterError": "tui._model",
    "LinkState": "tui._app",
    "NodeClient": "tui._client",
    "NodeError": "tui._client",
    "NodeUnreachable": "tui._client",
    "StreamEvent": "tui._client",
}

logging.getLogger(__name__).addHandler(logging.NullHandler())

__getattr__, __dir__ = lazy_exports(__name__, _HOME)
