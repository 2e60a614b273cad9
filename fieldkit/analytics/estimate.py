"""One count per region from two estimators, with a low-high band and the method used.

The detector counts people it can separate: right for a few large, unoccluded people, it
saturates in a crowd (47% missed on Mall, 70% on ShanghaiTech B, 96% on A). The density
map (:mod:`fieldkit.analytics.density`) counts crowds but over-counts close-ups (3-36
people in group photos read as 67-123) and smears a few scattered people. The switch:

- people large in the picture (median box taller than ``CLOSE_SHARE`` of the region, a
  scale CSRNet never saw: zidane.jpg reads 82 people) with the map's mass mostly on them
  (``CLOSE_ON_BOXES``: the map counts their faces and clothes many times over, not a crowd
  behind them), and not a crowd a few huge boxes were drawn over (at most
  ``CLOSE_PER_BOX`` people on the map per box): the detector;
- otherwise the density map (times the camera's self-calibrated scale), its band from the
  relative error measured on the tuning split, and never below what was detected: every
  confident box is a person;
- the estimators disagree beyond their measured error (more confident boxes than the
  map's upper bound): the estimate is marked uncertain, with the reason.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from fieldkit.analytics.detector import Detection

Method = Literal["detector", "density", "fused"]
#: Relative error of the density map (MAE / mean count), measured on the tuning split
#: (Mall 1-400, the first half of each ShanghaiTech set): 0.11 Mall, 0.19 B, 0.21 A.
DENSITY_REL_ERROR = 0.25
#: Absolute error floor of the map in a sparse scene (people).
DENSITY_ABS_ERROR = 2.0
#: A confident box is a person for the lower bound.
CONFIDENT = 0.4
#: Median box height, as a share of the region's height, above which people are too large
#: for the density map (ShanghaiTech's near people: 0.28-0.30; zidane.jpg 0.79, bus.jpg 0.46).
CLOSE_SHARE = 0.4
#: Share of the map's mass on the detected boxes above which the map is counting the
#: detected people over and over (zidane.jpg: 0.78; ShanghaiTech B's near people: 0.34-0.39,
#: the crowd behind them is not detected).
CLOSE_ON_BOXES = 0.6
#: A close-up the map over-counts reads 15-25 people per detected one (zidane.jpg, the
#: issue's group photos); a dense crowd with one box drawn over part of it, hundreds.
CLOSE_PER_BOX = 30
#: Share of people a detector may miss before it saturates, per box (occlusion grows with
#: the count): the detector's upper bound is n / (1 - MISS * min(1, n / SATURATES)).
MISS = 0.6
SATURATES = 30


@dataclass(frozen=True, slots=True)
class Estimate:
    """People in one region, how sure, and how it was found."""

    count: float
    low: float
    high: float
    method: Method
    detected: int
    """Boxes found by the detector in the region."""
    mapped: float | None
    """The density map's count (after the camera's scale), None when it did not run."""
    uncertain: str = ""
    """Why this estimate should not be trusted (empty: within what was validated)."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def describe(self, area_m2: float | None = None) -> str:
        """"4.8/m² (3.9-5.6), density map" or "31 (25-39), detector"."""
        area = area_m2 or 1.0
        text = band_text(self.count / area, self.low / area, self.high / area, self.method,
                         "/m²" if area_m2 else "")
        return text + (f"; uncertain: {self.uncertain}" if self.uncertain else "")


def band_text(value: float, low: float, high: float, method: str, unit: str = "/m²") -> str:
    """"4.8/m² (3.9-5.6), density map": a figure, its band and how it was found."""
    digits = 1 if unit else 0
    return (f"{value:.{digits}f}{unit} ({low:.{digits}f}-{high:.{digits}f}), "
            f"{method_name(method)}")


def method_name(method: str) -> str:
    """How an estimate was found, in words."""
    return {"detector": "detector", "density": "density map",
            "fused": "detector + map"}.get(method, method)


def detector_estimate(detections: list[Detection] | int) -> Estimate:
    """The detector alone (its boxes or their number): a lower bound that widens upwards
    as the crowd grows."""
    n = detections if isinstance(detections, int) else len(detections)
    high = n / (1 - MISS * min(1.0, n / SATURATES))
    uncertain = "the detector saturates in a crowd" if n >= SATURATES else ""
    return Estimate(float(n), float(n), round(high, 1), "detector", n, None, uncertain)


def fuse(detections: list[Detection], mapped: float | None, height: float,
         on_boxes: float = 0.0) -> Estimate:
    """One estimate from the detections in a region ``height`` pixels tall and the density
    map's count there (already scaled; None: the map did not run), ``on_boxes`` of whose
    mass lies on the detected boxes."""
    if mapped is None:
        return detector_estimate(detections)
    n = len(detections)
    sure = sum(1 for d in detections if d.confidence >= CONFIDENT)
    m = max(0.0, mapped)
    m_low = max(0.0, m * (1 - DENSITY_REL_ERROR) - DENSITY_ABS_ERROR)
    m_high = m * (1 + DENSITY_REL_ERROR) + DENSITY_ABS_ERROR
    if n and on_boxes >= CLOSE_ON_BOXES and m <= CLOSE_PER_BOX * n and \
            float(np.median([d.height for d in detections])) >= CLOSE_SHARE * height:
        return Estimate(float(n), float(n), n * 1.5 + 2, "detector", n, round(m, 1))
    if sure > m_high:
        # More people seen one by one than the map allows: trust the boxes as a floor and
        # say the two disagree.
        return Estimate(float(n), float(sure), max(float(n), m_high) * 1.5, "fused", n,
                        round(m, 1), f"{sure} people detected, the density map reads "
                        f"{m:.0f}")
    count = max(m, float(sure))
    return Estimate(round(count, 1), round(max(m_low, float(sure)), 1),
                    round(max(m_high, count), 1), "density", n, round(m, 1))


class ScaleCalibration:
    """A camera's density-map scale, learnt from quiet moments: few people, all detected
    with confidence and large enough that the detector misses none. The scale is the
    ratio of summed detector counts to summed map counts over the last ``span`` such
    moments, bounded to 0.5-2 (beyond that the map is not the problem)."""

    def __init__(self, span: int = 50, fewest: int = 10) -> None:
        self._pairs: deque[tuple[int, float]] = deque(maxlen=span)
        self.fewest = fewest

    def observe(self, detections: list[Detection], mapped_raw: float) -> None:
        """A sample: used only when the scene is quiet and the detector clearly sure."""
        n = len(detections)
        if not 2 <= n <= 8 or mapped_raw <= 0.5:
            return
        if min(d.confidence for d in detections) < 0.5 or \
                min(d.height for d in detections) < 60:
            return
        self._pairs.append((n, mapped_raw))

    @property
    def scale(self) -> float:
        """1.0 until ``fewest`` quiet moments were seen."""
        if len(self._pairs) < self.fewest:
            return 1.0
        det = sum(p[0] for p in self._pairs)
        mapped = sum(p[1] for p in self._pairs)
        return float(min(2.0, max(0.5, det / mapped)))

    @property
    def samples(self) -> int:
        return len(self._pairs)
