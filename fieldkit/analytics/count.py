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

    def density_map(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """The density map of the image (zero outside ``mask`` and its bounding box)."""
        assert self.density is not None
        x1, y1, x2, y2 = mask_box(mask, image.shape)
        out = np.zeros(image.shape[:2], np.float32)
        out[y1:y2, x1:x2] = self.density.density(image[y1:y2, x1:x2])
        if mask is not None:
            out[~mask] = 0.0
        return out

    def fused(self, image: np.ndarray, mask: np.ndarray | None, dets: list[Detection],
              dmap: np.ndarray) -> Estimate:
        """The fused estimate from this image's detections and density map."""
        top, bottom = mask_box(mask, image.shape, 0)[1::2]
        total = float(dmap.sum())
        return fuse(dets, total, bottom - top, on_boxes(dmap, dets) / total if total else 0.0)

    def count(self, image: np.ndarray, mask: np.ndarray | None, method: Choice) -> Counted:
        """People in ``image`` (inside ``mask``) by ``method``."""
        started = time.perf_counter()
        if method == "detector":
            est = detector_estimate(self.detections(image, mask))
        elif method == "density":
            est = fuse([], float(self.density_map(image, mask).sum()), 0)
        else:
            est = self.fused(image, mask, self.detections(image, mask),
                             self.density_map(image, mask))
        return Counted(est, (time.perf_counter() - started) * 1000)


def on_boxes(dmap: np.ndarray, detections: list[Detection],
             offset: tuple[int, int] = (0, 0)) -> float:
    """The map's mass on the detected boxes (``offset``: the map's origin in the frame)."""
    covered = np.zeros(dmap.shape, bool)
    ox, oy = offset
    for d in detections:
        covered[max(0, int(d.y1) - oy):max(0, int(d.y2) - oy),
                max(0, int(d.x1) - ox):max(0, int(d.x2) - ox)] = True
    return float(dmap[covered].sum())
