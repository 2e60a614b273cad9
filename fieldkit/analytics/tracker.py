"""Tracking: ultralytics' ByteTrack over :class:`Detection` lists, plus each track's
recent history on the ground (for speed, direction, stillness and person-down).

ByteTrack keeps low-score detections associated with existing tracks, which suits this
model: on real CCTV it scores people at 0.35-0.6 (DESIGN.md).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from fieldkit.analytics.detector import Detection


@dataclass(frozen=True, slots=True)
class Track:
    """A person followed across frames, as of one frame."""

    id: int
    box: tuple[float, float, float, float]
    """x1, y1, x2, y2 pixels."""
    confidence: float
    fallen: bool
    """The detection matched this frame was classed as down."""
    ground: tuple[float, float] | None = None
    """Ground position, metres (None without calibration or above the horizon)."""
    velocity: tuple[float, float] | None = None
    """Ground velocity, m/s, over the recent history."""
    fallen_share: float = 0.0
    """Share of the recent history classed as down."""
    low_and_still: bool = False
    """Box wider than tall and not moving over the recent history."""
    age_s: float = 0.0
    """Seconds since the track was first seen."""

    @property
    def speed(self) -> float | None:
        return None if self.velocity is None else math.hypot(*self.velocity)


class _Boxes:
    """The results-like object BYTETracker.update reads (conf, cls, xywh, indexing)."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls
        self.xywh = np.column_stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2,
                                     xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]]) \
            if len(xyxy) else np.zeros((0, 4), np.float32)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: np.ndarray) -> _Boxes:
        return _Boxes(self.xyxy[index], self.conf[index], self.cls[index])


@dataclass
class _History:
    first_t: float
    samples: deque[tuple[float, float | None, float | None, bool, float, float]]
    """(t, gx, gy, fallen, box w, box h)."""


class Tracker:
    """ByteTrack with per-track history.

    :param frame_rate: analysed frames per second (sets how long lost tracks are kept).
    :param history_s: seconds of history kept per track for speed and stillness.
    """

    def __init__(self, frame_rate: float = 4.0, history_s: float = 3.0,
                 still_m_s: float = 0.2, confidence: float = 0.2) -> None:
        from ultralytics.trackers.byte_tracker import BYTETracker

        # Tracks start from detections as weak as the detector keeps (this model scores
        # real people at 0.35-0.6, crowded ones lower); weaker ones only extend tracks.
        args = SimpleNamespace(track_high_thresh=confidence, track_low_thresh=0.05,
                               new_track_thresh=confidence,
                               track_buffer=max(2, int(frame_rate * 2)),
                               match_thresh=0.8, fuse_score=False)
        self._bt = BYTETracker(args)
        self._history: dict[int, _History] = {}
        self.history_s = history_s
        self.still_m_s = still_m_s

    def update(self, detections: list[Detection], t: float,
               ground: np.ndarray | None = None) -> list[Track]:
        """Associate this frame's detections; ``ground`` (N, 2) gives each detection's
        ground position (rows may be NaN)."""
        xyxy = np.array([[d.x1, d.y1, d.x2, d.y2] for d in detections], np.float32).reshape(-1, 4)
        conf = np.array([d.confidence for d in detections], np.float32)
        cls = np.array([1.0 if d.fallen else 0.0 for d in detections], np.float32)
        rows = self._bt.update(_Boxes(xyxy, conf, cls))
        tracks: list[Track] = []
        alive: set[int] = set()
        for row in rows:
            tid, idx = int(row[4]), int(row[7])
            det = detections[idx]
            g: tuple[float, float] | None = None
            if ground is not None and not np.isnan(ground[idx]).any():
                g = (float(ground[idx, 0]), float(ground[idx, 1]))
            tracks.append(self._with_history(tid, det, t, g))
            alive.add(tid)
        for tid in [k for k, h in self._history.items()
                    if k not in alive and t - h.samples[-1][0] > self.history_s * 2]:
            del self._history[tid]
        return tracks

    def _with_history(self, tid: int, det: Detection, t: float,
                      g: tuple[float, float] | None) -> Track:
        hist = self._history.get(tid)
        if hist is None:
            hist = self._history[tid] = _History(t, deque())
        hist.samples.append((t, g[0] if g else None, g[1] if g else None, det.fallen,
                             det.width, det.height))
        while hist.samples and t - hist.samples[0][0] > self.history_s:
            hist.samples.popleft()
        located = [(s[0], s[1], s[2]) for s in hist.samples
                   if s[1] is not None and s[2] is not None]
        velocity: tuple[float, float] | None = None
        if len(located) >= 2 and located[-1][0] - located[0][0] >= 0.4:
            (t0, x0, y0), (t1, x1, y1) = located[0], located[-1]
            velocity = ((x1 - x0) / (t1 - t0), (y1 - y0) / (t1 - t0))
        fallen_share = sum(s[3] for s in hist.samples) / len(hist.samples)
        span = hist.samples[-1][0] - hist.samples[0][0]
        low = all(s[4] > s[5] for s in hist.samples)
        still = velocity is not None and math.hypot(*velocity) < self.still_m_s
        return Track(tid, (det.x1, det.y1, det.x2, det.y2), det.confidence, det.fallen, g,
                     velocity, fallen_share, low and still and span >= 1.0, t - hist.first_t)
