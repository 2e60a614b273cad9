"""Foreign clocks (issue 14 item 6): an event dated beyond the configured skew, or going
back in time within its origin's chain, is refused and counted; nothing is stored."""

from __future__ import annotations

import pytest

from fieldkit.events import GENESIS, seal
from fieldkit.hlc import LOGICAL_BITS
from fieldkit.identity import NodeIdentity

A, B = NodeIdentity.generate("T01"), NodeIdentity.generate("T02")
NOW_MS = 1_780_000_000_000
INCIDENT = "01890000-0000-7000-8000-000000000001"
CREATE = {"title": "Gate 3", "kind": "medical", "severity": 3}
YEAR_MS = 365 * 86_400_000


def _chain(*wall_ms: int) -> list:
    """B's events at these wall times (ms), as B's own log would seal them."""
    events, prev = [], GENESIS
    for seq, ms in enumerate(wall_ms, start=1):
        kind, payload = ("create", CREATE) if seq == 1 else ("note", {"text": f"n{seq}"})
        e = seal(B, seq=seq, hlc=ms << LOGICAL_BITS, incident=INCIDENT, kind=kind,
                 payload=payload, prev=prev)
        events.append(e)
        prev = e.hash
    return events


@pytest.mark.parametrize(("times", "applied", "reason", "detail"), [
    ((NOW_MS - 5000, NOW_MS + 599_000), 2, None, None),  # within the default 600 s
    ((NOW_MS, NOW_MS + YEAR_MS), 1, "clock_ahead",
     "T02:2 is dated 31536000 s ahead of this node's clock; the limit is "
     "trust.max_clock_skew_s = 600"),
    ((NOW_MS, (1 << (63 - LOGICAL_BITS)) - 1), 1, "clock_ahead", "T02:2 is dated"),
    ((NOW_MS, NOW_MS - 60_000, NOW_MS), 1, "clock_backwards",
     "T02:2 is dated no later than T02:1: its chain goes back in time"),
])
def test_foreign_times_are_bounded(make_log, times, applied, reason, detail):
    log = make_log(A, B, clock=lambda: NOW_MS)
    report = log.apply(_chain(*times))
    assert report.applied == applied
    if reason is None:
        assert report.rejected == []
        return
    assert {r.reason for r in report.rejected} == {reason}
    assert report.rejected[0].detail.startswith(detail)
    assert log.stats()["events"] == applied
    assert [(r["origin"], r["reason"]) for r in log.rejections()] == [("T02", reason)]
    # The incident's last change is not in the future (it was the year 6429 before).
    assert log.get(INCIDENT).updated_at <= NOW_MS + 600_000


def test_the_skew_is_configured(make_log):
    log = make_log(A, B, clock=lambda: NOW_MS)
    log.max_skew_s = 60
    report = log.apply(_chain(NOW_MS, NOW_MS + 120_000))
    assert [r.reason for r in report.rejected] == ["clock_ahead"]
    assert "the limit is trust.max_clock_skew_s = 60" in report.rejected[0].detail
