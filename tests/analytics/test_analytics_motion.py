"""The motion gate on generated frames."""

from __future__ import annotations

import numpy as np
from conftest import make_scene, small_scene

from fieldkit.analytics.motion import MotionGate
from fieldkit.analytics.scene import Sprite


def test_still_scene_does_not_wake_the_detector(sprites: list[Sprite]) -> None:
    scene = make_scene(small_scene(0.2, speed=0.0), sprites)
    gate = MotionGate()
    first = gate(scene.next_frame().image)
    assert first.moved
    assert gate.changed
    gate.mark_detected()
    for _ in range(3):
        motion = gate(scene.next_frame().image)
        assert not motion.moved
        assert not gate.changed


def test_walking_people_make_motion_boxes_where_they_are(sprites: list[Sprite]) -> None:
    scene = make_scene(small_scene(0.2, speed=1.5), sprites)
    gate = MotionGate()
    gate(scene.next_frame().image)
    gate.mark_detected()
    frame = scene.next_frame()
    motion = gate(frame.image)
    assert motion.moved
    assert gate.changed
    for x1, y1, x2, y2 in motion.boxes:
        assert any(p.box[0] - 8 <= x2 and x1 <= p.box[2] + 8 and p.box[1] - 8 <= y2
                   and y1 <= p.box[3] + 8 for p in frame.people)


def test_slow_change_accumulates_against_the_last_detection(sprites: list[Sprite]) -> None:
    """Each step is small, but the gate compares with what the detector last saw."""
    scene = make_scene(small_scene(0.2, speed=0.3, fps=10), sprites)
    gate = MotionGate()
    gate(scene.next_frame().image)
    gate.mark_detected()
    changed = False
    for _ in range(20):
        gate(scene.next_frame().image)
        changed = changed or gate.changed
    assert changed


def test_lights_going_on_reset_the_gate() -> None:
    gate = MotionGate()
    dark = np.full((360, 640, 3), 40, np.uint8)
    gate(dark)
    gate.mark_detected()
    motion = gate(np.full((360, 640, 3), 200, np.uint8))
    assert motion.share > 0.7
    assert motion.boxes == [(0, 0, 640, 360)]
    assert gate.changed
