"""JSON from outside the node (API bodies, sync payloads, bundle frames), parsed with a
bound on nesting.

``json.loads`` recurses once per level: 100,000 ``[`` raise RecursionError, which no
caller expects, and a document just under Python's limit parses but can blow the stack
later when it is serialised again deeper in a call chain. Every input boundary parses
through :func:`loads` instead, which refuses anything nested deeper than
:data:`MAX_DEPTH` with the same exception as any other malformed JSON.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
"""Deepest nesting accepted; fieldkit's own documents (a sync batch around an event
payload around a location) are under 10 levels deep."""


def loads(data: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data``; raises json.JSONDecodeError (also when nested deeper than
    ``max_depth``) or UnicodeDecodeError, like ``json.loads``."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise _too_deep(data, max_depth) from None
    if _depth_exceeds(value, max_depth):
        raise _too_deep(data, max_depth)
    return value


def _too_deep(data: str | bytes, max_depth: int) -> json.JSONDecodeError:
    doc = data if isinstance(data, str) else data[:64].decode("utf-8", "replace")
    return json.JSONDecodeError(f"nested deeper than {max_depth} levels", doc, 0)


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether containers nest deeper than ``max_depth`` (iterative: no recursion)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False
