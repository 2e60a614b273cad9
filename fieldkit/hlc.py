"""Hybrid logical clock timestamps, packed in one integer.

``hlc = wall_ms << 16 | counter``: ordered like wall time, strictly increasing per node
even when the wall clock stalls or steps back, and after receiving events from a node
whose clock runs ahead (up to :data:`MAX_DRIFT_MS`, so one bad clock cannot drag the
whole fleet into the future).
"""

from __future__ import annotations

import time

LOGICAL_BITS = 16
MAX_DRIFT_MS = 60_000
DEFAULT_MAX_CLOCK_SKEW_S = 600
"""Foreign events dated further ahead of this node's clock are refused (and counted)."""


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def to_wall_ms(hlc: int) -> int:
    return hlc >> LOGICAL_BITS


def next_hlc(now_ms: int, own_last: int, seen_max: int) -> int:
    """The timestamp of a new local event.

    ``own_last`` is this node's latest timestamp, ``seen_max`` the latest of any event held.
    """
    floor = now_ms << LOGICAL_BITS
    candidates = [floor, own_last + 1]
    if to_wall_ms(seen_max) <= now_ms + MAX_DRIFT_MS:
        candidates.append(seen_max + 1)
    return max(candidates)
