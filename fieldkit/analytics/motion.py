"""The motion gate: skip the detector on frames where nothing moved, as Frigate does.

A small blurred grey copy of each frame is compared with the previous one; pixels that
differ by more than ``threshold`` grey levels are motion, and connected regions larger
than ``min_area`` (in the small copy) are motion boxes. It runs on every frame (about
1 ms), the detector only on frames that changed since it last ran.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class Motion:
    """What moved in one frame."""

    boxes: list[tuple[int, int, int, int]]
    """x1, y1, x2, y2 of moving regions, full-frame pixels."""
    share: float
    """Share of the frame that moved."""

    @property
    def moved(self) -> bool:
        return bool(self.boxes)


class MotionGate:
    """Frame differencing on a downscaled, blurred grey copy.

    Two questions are asked of each frame: what moved since the previous frame
    (:meth:`__call__`, Frigate's motion boxes) and whether anything changed since the last
    frame the detector saw (:attr:`changed`): when nothing did, that detector result still
    describes the scene and the detector is skipped.

    :param height: rows of the small copy (Frigate uses 100-180).
    :param threshold: grey-level difference that counts as motion.
    :param min_area: smallest moving region, in pixels of the small copy.
    :param reset_share: a change over more than this share of the frame (lights,
        auto-exposure) is reported as motion everywhere and resets the references.
    """

    def __init__(self, height: int = 120, threshold: int = 25, min_area: int = 8,
                 reset_share: float = 0.7) -> None:
        self.height = height
        self.threshold = threshold
        self.min_area = min_area
        self.reset_share = reset_share
        self._previous: np.ndarray | None = None
        self._reference: np.ndarray | None = None
        self.changed = True
        """Something moved since :meth:`mark_detected` was last called."""

    def reset(self) -> None:
        self._previous = self._reference = None
        self.changed = True

    def mark_detected(self) -> None:
        """The detector has just seen the current frame."""
        self._reference = self._previous
        self.changed = False

    def __call__(self, image: np.ndarray) -> Motion:
        h, w = image.shape[:2]
        scale = self.height / h
        small = cv2.resize(image, (max(1, int(w * scale)), self.height),
                           interpolation=cv2.INTER_AREA)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        previous, self._previous = self._previous, grey
        if previous is None or previous.shape != grey.shape:
            self._reference = None
            self.changed = True
            return Motion([(0, 0, w, h)], 1.0)  # first frame: everything is new
        boxes, share = self._moving(previous, grey, scale)
        if share > self.reset_share:
            self._reference = None
            self.changed = True
            return Motion([(0, 0, w, h)], share)
        if self._reference is None:
            self.changed = True
        elif not self.changed:
            self.changed = bool(self._moving(self._reference, grey, scale)[0])
        return Motion(boxes, share)

    def _moving(self, before: np.ndarray, after: np.ndarray, scale: float
                ) -> tuple[list[tuple[int, int, int, int]], float]:
        diff = cv2.absdiff(before, after)
        _, mask = cv2.threshold(diff, self.threshold, 255, cv2.THRESH_BINARY)
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=2)
        share = float(np.count_nonzero(mask)) / mask.size
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes = []
        for c in contours:
            if cv2.contourArea(c) < self.min_area:
                continue
            x, y, bw, bh = cv2.boundingRect(c)
            boxes.append((int(x / scale), int(y / scale), int((x + bw) / scale),
                          int((y + bh) / scale)))
        return boxes, share
