"""Scope policy: which origins' logs a node offers to which peer.

- **HQ receives everything.** Every node offers HQ every origin it holds.
- **Trucks share what they hold.** A truck offers any peer (truck or HQ) every origin it
  holds: its own log and what neighbours and HQ sent it. This is what lets truck A's
  events reach HQ through truck B.
- **HQ sends a truck** that truck's own log (recovery after a lost disk), the logs of HQ
  nodes, and the logs of nodes the roster marks ``fleet_wide``; not every other truck's.

Scope is per origin, never per incident, because each origin's events form a hash chain
that a receiver applies contiguously: a chain with holes cannot be verified. To send one
incident fleet-wide, HQ writes about it in its own log (HQ's log is always fleet-wide), or
marks the origin ``fleet_wide`` in the roster. Scope is decided by the sender; a receiver
accepts any verified event from a trusted origin.
"""

from __future__ import annotations

from collections.abc import Callable

from sync.roster import Trust


def offer_filter(trust: Trust, peer: str) -> Callable[[str], bool]:
    """``allowed(origin)``: whether this node offers ``origin``'s log to ``peer``."""
    if trust.role != "hq" or trust.role_of(peer) == "hq":
        return lambda origin: True
    allowed = {trust.identity.name, peer} | trust.fleet_wide()
    if trust.roster is not None:
        allowed |= {n for n, e in trust.roster.nodes.items() if e.role == "hq"}
    return allowed.__contains__
