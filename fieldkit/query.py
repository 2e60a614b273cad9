"""Query-string values of the API's list routes, checked the same way everywhere."""

from __future__ import annotations

from aiohttp import web

from fieldkit.errors import InvalidActionError


def query_limit(request: web.Request, default: int = 100, most: int = 10_000) -> int:
    """``?limit=`` as an int in 1..``most``; InvalidActionError (400) names the value."""
    raw = request.query.get("limit", str(default))
    try:
        limit = int(raw)
    except ValueError as exc:
        raise InvalidActionError(f"limit {raw!r} is not an integer") from exc
    if not 1 <= limit <= most:
        raise InvalidActionError(f"limit {limit} is out of range 1..{most}")
    return limit
