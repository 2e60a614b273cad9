"""What a web browser may do with the node's API: the answer is almost nothing.

A node bound to loopback takes requests without a token, so any page a crew member opens
could reach it: by a cross-site ``fetch`` (the browser sends it, only the answer is
hidden), or by DNS rebinding (``evil.example`` re-resolving to 127.0.0.1, which makes the
page same-origin with the node). Two checks close both:

- **Host**: on a loopback binding, the ``Host`` header must name the node itself
  (``localhost``, 127.0.0.1, ::1 or the configured ``api.host``); a rebound name is
  refused. Beyond loopback every request needs the bearer token, which a rebinding page
  does not have.
- **Origin**: a write (anything but GET/HEAD/OPTIONS) whose ``Origin`` is not the node's
  own, or that the browser marks ``Sec-Fetch-Site: cross-site``, needs the bearer token.
  The node's own pages (``/publish``, ``/live``) are same-origin and keep working.

WHIP (``/whip``) is the one route meant for other origins: it takes a per-pilot token
and answers CORS itself (:mod:`drone.video.whip`).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from fieldkit.config import Config

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CROSS_ORIGIN_OK = ("/whip",)
"""Paths that take writes from other origins (they check their own tokens)."""


def bearer_matches(request: web.Request, token: str | None) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (constant time)."""
    if token is None:
        return False
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def own_hostnames(config: Config) -> frozenset[str]:
    """Names a loopback-bound node answers to."""
    return frozenset({"localhost", "127.0.0.1", "::1", config.api.host.lower()})


def browser_guard(config: Config, token: str | None) -> Any:
    """The middleware described in the module docstring; refusals are 403 with a reason."""
    hostnames = own_hostnames(config) if config.api.is_loopback else None

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if hostnames is not None:
            name = _hostname(request.host)
            if name not in hostnames:
                raise web.HTTPForbidden(reason=(
                    f"Host {request.host[:100]!r} is not this node's address "
                    f"(use {', '.join(sorted(hostnames))}); refused against DNS rebinding"))
        if request.method not in _SAFE_METHODS and not request.path.startswith(
                _CROSS_ORIGIN_OK) and _cross_site(request) and not bearer_matches(
                request, token):
            raise web.HTTPForbidden(reason=(
                f"a write from another web origin ({request.headers.get('Origin', '?')[:100]})"
                " needs the API bearer token"))
        return await handler(request)

    return guard


def _hostname(host: str) -> str:
    try:
        return (urlsplit(f"//{host}").hostname or "").lower()
    except ValueError:  # e.g. an unbalanced "[" in the header
        return ""


def _cross_site(request: web.Request) -> bool:
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin")
    return origin is not None and origin != f"{request.scheme}://{request.host}"
