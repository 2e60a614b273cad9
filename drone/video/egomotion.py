"""A motion gate for moving cameras: a drone's picture moves as a whole when the drone
turns or drifts, and the camera motion gate would then wake the detector on every frame.

:class:`EgoMotionGate` estimates the global motion between two small grey frames (corners
tracked with pyramidal Lucas-Kanade, a RANSAC similarity transform) and compares the
current frame with the *aligned* previous one, so only what moves on the ground counts.
Where alignment fails (too few corners, a jump) it compares unaligned: the detector runs,
never the other way round.
"""

from __future__ import annotations

import cv2
import numpy as np

from fieldkit.analytics.motion import MotionGate

_BORDER = np.ones((5, 5), np.uint8)


def align(before: np.ndarray, after: np.ndarray, min_points: int = 8, margin: int = 4
          ) -> np.ndarray | None:
    """``before`` warped onto ``after`` by their global motion (outside its footprint,
    ``after``'s own pixels), or None when the motion cannot be estimated."""
    points = cv2.goodFeaturesToTrack(before, maxCorners=200, qualityLevel=0.01, minDistance=4)
    if points is None or len(points) < min_points:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(before, after, points, None)  # type: ignore[call-overload]
    ok = status.ravel() == 1
    if int(ok.sum()) < min_points:
        return None
    matrix, inliers = cv2.estimateAffinePartial2D(points[ok], moved[ok], method=cv2.RANSAC,
                                                  ransacReprojThreshold=1.5)
    if matrix is None or inliers is None or int(inliers.sum()) < min_points:
        return None
    h, w = after.shape[:2]
    warped = cv2.warpAffine(before, matrix, (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    footprint = cv2.warpAffine(np.full(before.shape[:2], 255, np.uint8), matrix, (w, h),
                               flags=cv2.INTER_NEAREST, borderValue=0)
    # The blur's reflected borders change as the view moves: leave a margin out too.
    footprint[:margin], footprint[-margin:] = 0, 0
    footprint[:, :margin], footprint[:, -margin:] = 0, 0
    outside = cv2.erode(footprint, _BORDER) == 0
    warped[outside] = after[outside]
    return warped


class EgoMotionGate(MotionGate):
    """:class:`~fieldkit.analytics.motion.MotionGate` after global-motion compensation."""

    def _moving(self, before: np.ndarray, after: np.ndarray, scale: float
                ) -> tuple[list[tuple[int, int, int, int]], float]:
        aligned = align(before, after)
        return super()._moving(before if aligned is None else aligned, after, scale)
