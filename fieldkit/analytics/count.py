"""Counting people in still images (``fieldkit camera count``, ``fieldkit bench count``):
the detector and the density map on the mask's part of the image, fused.

A mask (a region of interest) is a grey image of the picture's size, non-zero inside.
Both estimators run only on the mask's bounding box (plus a margin for context), a box
counts when its head (the top of the box) is inside, the map is summed inside.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from fieldkit.analytics.density import DensityCounter
from fieldkit.analytics.detector import Detection, Detector
from fieldkit.analytics.estimate import Estimate, detector_estimate, fuse
from fieldkit.errors import ConfigError

Choice = Literal["auto", "detector", "density"]
#: Pixels of context around the mask's bounding box.
MARGIN = 32
#: Largest detector inference size for a still (the region at native resolution).
MAX_IMGSZ = 1280


def read_image(path: Path) -> np.ndarray:
    """BGR pixels of ``path``; ConfigError naming it when it is not a readable image."""
    data = np.fromfile(str(path), np.uint8) if path.is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if image is None:
        raise ConfigError(f"{path}: not a readable image (JPEG, PNG, ...)")
    return np.asarray(image)


def read_mask(path: Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The boolean mask of ``path`` (non-zero inside); ConfigError naming the file when it
    is not an image or its size differs from ``shape``'s."""
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.is_file() else None
    if mask is None:
        raise ConfigError(f"--roi {path}: not a readable image")
    if shape is not None and mask.shape != tuple(shape[:2]):
        raise ConfigError(f"--roi {path}: the mask is {mask.shape[1]}x{mask.shape[0]}, the "
                          f"image is {shape[1]}x{shape[0]}")
    return np.asarray(mask > 0)


def head(d: Detection) -> tuple[float, float]:
    """Where the head is: top centre of the box, a tenth of its height down."""
    return (d.x1 + d.x2) / 2, d.y1 + 0.1 * d.height


def inside(mask: np.ndarray | None, detections: list[Detection]) -> list[Detection]:
    if mask is None:
        return detections
    h, w = mask.shape
    out = []
    for d in detections:
        x, y = head(d)
        if mask[min(h - 1, max(0, int(y))), min(w - 1, max(0, int(x)))]:
            out.append(d)
    return out


def mask_box(mask: np.ndarray | None, shape: tuple[int, ...], margin: int = MARGIN
             ) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) holding the mask, with ``margin`` pixels of context."""
    h, w = shape[:2]
    if mask is None or not mask.any():
        return 0, 0, w, h
    ys, xs = np.nonzero(mask)
    return (max(0, int(xs.min()) - margin), max(0, int(ys.min()) - margin),
            min(w, int(xs.max()) + 1 + margin), min(h, int(ys.max()) + 1 + margin))


@dataclass(frozen=True, slots=True)
class Counted:
    """One image counted by one method."""

    estimate: Estimate
    ms: float


class StillCounter:
    """The detector and/or the density map, loaded once, for still images.

    :param detector: None when the method is "density".
    :param density: None when the method is "detector".
    """

    def __init__(self, detector: Detector | None, density: DensityCounter | None) -> None:
        self.detector = detector
        self.density = density

    def detections(self, image: np.ndarray, mask: np.ndarray | None) -> list[Detection]:
        assert self.detector is not None
        x1, y1, x2, y2 = mask_box(mask, image.shape)
        side = max(x2 - x1, y2 - y1)
        imgsz = int(min(MAX_IMGSZ, max(self.detector.imgsz, -(-side // 32) * 32)))
        return inside(mask, self.detector.detect(image, roi=(x1, y1, x2, y2), imgsz=imgsz))

    def mapped(self, image: np.ndarray, mask: np.ndarray | None) -> float:
        assert self.density is not None
        x1, y1, x2, y2 = mask_box(mask, image.shape)
        sub = None if mask is None else mask[y1:y2, x1:x2]
        return self.density.count(image[y1:y2, x1:x2], sub)

    def count(self, image: np.ndarray, mask: np.ndarray | None, method: Choice) -> Counted:
        """People in ``image`` (inside ``mask``) by ``method``."""
        started = time.perf_counter()
        if method == "detector":
            est = detector_estimate(self.detections(image, mask))
        elif method == "density":
            est = fuse([], self.mapped(image, mask), 0)
        else:
            top, bottom = mask_box(mask, image.shape, 0)[1::2]
            est = fuse(self.detections(image, mask), self.mapped(image, mask), bottom - top)
        return Counted(est, (time.perf_counter() - started) * 1000)
