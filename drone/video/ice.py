"""Which host addresses aioice offers as ICE candidates.

aioice leaves 127.0.0.1 out of its host candidates, so media on loopback (tests, the
demo, the bench) needs the address list replaced; in the field the node offers every
address of the host (``webrtc.ice_addresses`` unset). No STUN or TURN: trucks run with
no Internet, publishers reach the truck directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import aioice.ice

_ORIGINAL = aioice.ice.get_host_addresses


@contextlib.contextmanager
def ice_addresses(addresses: list[str] | None) -> Iterator[None]:
    """Within the block, ICE agents gather host candidates on ``addresses`` only (None:
    aioice's own choice). Process-wide: aioice reads a module function."""
    if addresses is None:
        yield
        return
    fixed = list(addresses)

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = _ORIGINAL
