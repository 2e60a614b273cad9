"""``GET /api/cameras`` from a real node: configured cameras before their pipelines run,
and each zone's recent metrics windows read from the node's SQLite file."""

from __future__ import annotations

from fieldkit.analytics.service import _recent_zones
from fieldkit.analytics.zones import ZoneMetrics, store_metrics
from fieldkit.store import Store


def _window(zone: str, end_ms: int, count: float) -> ZoneMetrics:
    return ZoneMetrics("ramp", zone, end_ms - 5000, end_ms, 10, count, int(count) + 1,
                       round(count / 30, 4), "B", 1.0, 0.0, 0.0, 0.1,
                       density_low=0.1, density_high=0.3, method="fused")


def test_zones_report_the_last_window_and_the_recent_counts(tmp_path):
    with Store(tmp_path / "n.db") as store:
        with store.write() as conn:
            store_metrics(conn, [_window("z1", 10_000, 3.0), _window("z1", 15_000, 6.0),
                                 _window("z2", 15_000, 1.0), _window("z1", 1_000, 9.0)])
        zones = _recent_zones(store.conn, ["ramp", "gate"], 5.0, since_ms=4_000)
    assert zones["gate"] == []
    z1, z2 = sorted(zones["ramp"], key=lambda z: z.zone)
    assert (z1.end_ms, z1.count, z1.peak, z1.counts) == (15_000, 6.0, 7, [3.0, 6.0])
    assert (z2.zone, z2.counts, z2.window_s) == ("z2", [1.0], 5.0)
    assert (z1.band, z1.method, z1.uncertain) == ((0.1, 0.3), "fused", None)
    assert _recent_zones(store.conn, [], 5.0, 0) == {}
