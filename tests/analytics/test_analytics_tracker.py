"""ByteTrack over generated frames: identities hold, speeds match the truth."""

from __future__ import annotations

import numpy as np
from conftest import calibration_of, camera_for, make_scene, small_scene

from fieldkit.analytics.detector import Detection, Detector
from fieldkit.analytics.scene import Sprite
from fieldkit.analytics.tracker import Tracker


def test_tracks_keep_their_ids_and_measure_speed(detector: Detector,
                                                 sprites: list[Sprite]) -> None:
    settings = small_scene(0.2, seed=1, speed=1.2, direction=90)
    cal = calibration_of(camera_for(settings))
    scene = make_scene(settings, sprites)
    tracker = Tracker(frame_rate=settings.fps)
    seen: list[set[int]] = []
    for _ in range(8):
        frame = scene.next_frame()
        dets = detector.detect(frame.image)
        ground = cal.image_to_ground(np.array([d.foot for d in dets]).reshape(-1, 2))
        tracks = tracker.update(dets, frame.t, ground)
        seen.append({t.id for t in tracks})
    assert len(seen[-1] & seen[3]) >= 0.6 * len(seen[3])  # most identities survive
    speeds = [t.velocity for t in tracks if t.velocity is not None]
    assert speeds
    vx = sorted(v[0] for v in speeds)[len(speeds) // 2]
    assert 0.8 <= vx <= 1.6  # median eastward speed of a 1.2 m/s (+-15%) flow


def test_a_box_that_stays_low_and_still_is_flagged() -> None:
    tracker = Tracker(frame_rate=4)
    det = Detection(100, 200, 180, 230, 0.5, False)  # wider than tall
    ground = np.array([[1.0, 5.0]])
    for k in range(8):
        tracks = tracker.update([det], k * 0.25, ground)
    (track,) = tracks
    assert track.low_and_still
    assert track.speed is not None
    assert track.speed < 0.05


def test_fall_share_counts_the_history() -> None:
    tracker = Tracker(frame_rate=4)
    ground = np.array([[1.0, 5.0]])
    for k in range(8):
        tracks = tracker.update([Detection(100, 100, 140, 200, 0.6, k >= 2)], k * 0.25, ground)
    assert tracks[0].fallen_share >= 0.7
