"""The fused estimate: which estimator wins where, the band, never falsely low, the
uncertain mark, and the self-calibrated map scale."""

from __future__ import annotations

from fieldkit.analytics.detector import Detection
from fieldkit.analytics.estimate import (
    ScaleCalibration,
    detector_estimate,
    fuse,
)


def boxes(n: int, height: float = 80.0, confidence: float = 0.7) -> list[Detection]:
    return [Detection(10.0 * i, 100.0, 10.0 * i + height / 2.5, 100.0 + height, confidence,
                      False) for i in range(n)]


def test_in_a_crowd_the_density_map_counts_and_the_band_holds_it() -> None:
    est = fuse(boxes(20), 120.0, 480)
    assert est.method == "density"
    assert est.count == 120.0
    assert est.low < 120 < est.high
    assert not est.uncertain


def test_the_estimate_is_never_below_what_was_detected_with_confidence() -> None:
    est = fuse(boxes(9), 5.0, 480)  # sparse: the map smears a few people
    assert est.count >= 9
    assert est.low >= 9


def test_more_people_detected_than_the_map_allows_is_marked_uncertain() -> None:
    est = fuse(boxes(30), 10.0, 480)
    assert est.uncertain
    assert "30 people detected" in est.uncertain
    assert est.low >= 30


def test_close_up_people_are_counted_by_the_detector() -> None:
    # zidane.jpg: the map reads 82, 78% of it on the detected men.
    est = fuse(boxes(3, height=400), 82.0, 720, on_boxes=0.78)
    assert est.method == "detector"
    assert est.count == 3
    # Big people before a crowd the detector does not see: the map's mass is elsewhere.
    behind = fuse(boxes(3, height=400), 196.0, 683, on_boxes=0.35)
    assert behind.method == "density"
    # Two huge boxes drawn over a dense crowd hold most of its map: still a crowd.
    drawn_over = fuse(boxes(2, height=400), 700.0, 683, on_boxes=0.7)
    assert drawn_over.method == "density"


def test_a_saturated_detector_alone_says_so_and_widens_its_band() -> None:
    alone = detector_estimate(boxes(40))
    assert alone.uncertain
    assert alone.high >= 2 * alone.count
    assert detector_estimate(boxes(3)).high < 4


def test_describe_gives_density_band_and_method() -> None:
    assert fuse(boxes(2), 96.0, 480).describe(20.0) == "4.8/m² (3.5-6.1), density map"


def test_the_map_scale_learns_from_quiet_confident_moments_only() -> None:
    cal = ScaleCalibration(fewest=5)
    for _ in range(10):
        cal.observe(boxes(4, height=120, confidence=0.8), 5.0)  # map reads 25% high
        cal.observe(boxes(25), 10.0)  # a crowd: the detector saturates, not a sample
        cal.observe(boxes(4, height=30, confidence=0.8), 9.0)  # people too small
    assert cal.samples == 10
    assert cal.scale == 0.8
    assert ScaleCalibration().scale == 1.0  # nothing seen yet: unscaled
