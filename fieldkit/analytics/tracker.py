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

#: A box this many times taller than wide is a person standing.
UPRIGHT = 1.6
#: Longest gap between a standing track's last detection and a lying track starting over
#: it for the two to be one person falling: the motion gate re-detects a still scene
#: every 5 s and a track starts on its second detection.
FALL_GAP_S = 10.0
#: A fallen person's box is at most this share of their standing height (a fall on the
#: generated scene: 0.58; two people seated on a Mall bench read "Fall" at 1.0).
COLLAPSE = 0.75
#: A box this close to the frame's edge is cut by it.
EDGE_PX = 3.0


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
    seen_upright: bool = False
    """The track was seen standing (box clearly taller than wide, not classed down) in at
    least two detections, at least ``1 / COLLAPSE`` times as tall as it is now."""
    still: bool = False
    """Not moving over the recent history (on the ground, or in pixels without one)."""

    @property
    def lying(self) -> bool:
        """Lying now: still, and classed down over most of the recent history or low."""
        return (self.still and self.fallen_share >= 0.6) or self.low_and_still

    @property
    def down(self) -> bool:
        """A person down: seen upright, now lying. A static thing never seen standing (a
        cloth on the grass classed "Fall") cannot fall."""
        return self.seen_upright and self.lying

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
    samples: deque[tuple[float, float | None, float | None, bool, float, float, float, float]]
    """(t, gx, gy, fallen and whole, box w, box h, box centre x, y)."""
    box: tuple[float, float, float, float]
    """The last box."""
    upright: int = 0
    """Detections seen standing (kept beyond the history window; 2 = inherited)."""
    upright_h: float = 0.0
    """Box height the last time it was seen standing, pixels."""
    previous: tuple[float, float, float] | None = None
    """(t, centre x, centre y) of the detection before the last (however old: a still
    scene is re-detected only every few seconds)."""


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
        self._bounds: tuple[int, int, int, int] | None = None

    def update(self, detections: list[Detection], t: float,
               ground: np.ndarray | None = None,
               bounds: tuple[int, int, int, int] | None = None) -> list[Track]:
        """Associate this frame's detections; ``ground`` (N, 2) gives each detection's
        ground position (rows may be NaN); a box touching the edge of the analysed
        ``bounds`` (x1, y1, x2, y2) is cut, so its shape says nothing about lying."""
        self._bounds = bounds
        xyxy = np.array([[d.x1, d.y1, d.x2, d.y2] for d in detections], np.float32).reshape(-1, 4)
        conf = np.array([d.confidence for d in detections], np.float32)
        cls = np.array([1.0 if d.fallen else 0.0 for d in detections], np.float32)
        rows = self._bt.update(_Boxes(xyxy, conf, cls))
        tracks: list[Track] = []
        # Matched in this frame: a standing track matched now has not vanished into a fall
        # (one last matched in the frame before has, even as the lying track appears).
        alive = {int(row[4]) for row in rows}
        for row in rows:
            tid, idx = int(row[4]), int(row[7])
            det = detections[idx]
            g: tuple[float, float] | None = None
            if ground is not None and not np.isnan(ground[idx]).any():
                g = (float(ground[idx, 0]), float(ground[idx, 1]))
            tracks.append(self._with_history(tid, det, t, g, alive))
        for tid in [k for k, h in self._history.items()
                    if k not in alive and t - h.samples[-1][0] > max(self.history_s * 2,
                                                                      FALL_GAP_S)]:
            del self._history[tid]
        return tracks

    def _fell_from_upright(self, box: tuple[float, float, float, float], t: float,
                           alive: set[int]) -> float:
        """A new track over where a standing track just vanished: a fall changes the box
        too much for the tracker to keep the identity, the person is the same. Returns
        the standing box's height (0: none)."""
        x1, y1, x2, y2 = box
        for tid, h in self._history.items():
            if h.upright < 2 or tid in alive or t - h.samples[-1][0] > FALL_GAP_S:
                continue
            ox1, oy1, ox2, oy2 = h.box
            inter = max(0.0, min(x2, ox2) - max(x1, ox1)) * max(0.0, min(y2, oy2) - max(y1, oy1))
            smaller = max(1.0, min((x2 - x1) * (y2 - y1), (ox2 - ox1) * (oy2 - oy1)))
            if inter / smaller >= 0.3:
                return h.upright_h
        return 0.0

    def _with_history(self, tid: int, det: Detection, t: float,
                      g: tuple[float, float] | None, alive: set[int]) -> Track:
        hist = self._history.get(tid)
        box = (det.x1, det.y1, det.x2, det.y2)
        if hist is None:
            was = self._fell_from_upright(box, t, alive)
            hist = self._history[tid] = _History(t, deque(), box, 2 if was else 0, was)
        hist.box = box
        b = self._bounds
        cut = b is not None and (det.x1 <= b[0] + EDGE_PX or det.y1 <= b[1] + EDGE_PX
                                 or det.x2 >= b[2] - EDGE_PX or det.y2 >= b[3] - EDGE_PX)
        hist.samples.append((t, g[0] if g else None, g[1] if g else None,
                             det.fallen and not cut, det.width if not cut else 0.0,
                             det.height, (det.x1 + det.x2) / 2, (det.y1 + det.y2) / 2))
        if not det.fallen and not cut and det.height >= UPRIGHT * det.width:
            hist.upright, hist.upright_h = hist.upright + 1, det.height
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
        centre = ((det.x1 + det.x2) / 2, (det.y1 + det.y2) / 2)
        if velocity is not None:
            still = math.hypot(*velocity) < self.still_m_s
        elif hist.previous is not None and t - hist.previous[0] >= 0.4:
            # No ground speed: the box's centre moves under a tenth of its size per second.
            moved = math.hypot(centre[0] - hist.previous[1], centre[1] - hist.previous[2])
            still = moved / (t - hist.previous[0]) < 0.1 * max(det.height, det.width)
        else:
            still = False
        hist.previous = (t, *centre)
        return Track(tid, (det.x1, det.y1, det.x2, det.y2), det.confidence, det.fallen, g,
                     velocity, fallen_share, low and still and span >= 1.0, t - hist.first_t,
                     hist.upright >= 2 and det.height <= COLLAPSE * hist.upright_h, still)
