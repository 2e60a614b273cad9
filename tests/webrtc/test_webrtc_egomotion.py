"""The drone motion gate ignores the drone's own motion, not people moving."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from drone.video.egomotion import EgoMotionGate, align
from fieldkit.analytics.motion import MotionGate


def bus() -> np.ndarray:
    spec = importlib.util.find_spec("ultralytics")
    assert spec is not None
    assert spec.submodule_search_locations
    image = cv2.imread(str(Path(spec.submodule_search_locations[0]) / "assets" / "bus.jpg"))
    assert image is not None
    return image


def view(image: np.ndarray, dx: int, dy: int = 0) -> np.ndarray:
    """A 640x480 window of ``image`` moved by (dx, dy): the drone drifting."""
    return image[100 + dy:580 + dy, 80 + dx:720 + dx].copy()


@pytest.mark.parametrize("gate_class", [MotionGate, EgoMotionGate])
def test_pan_wakes_only_the_camera_gate(gate_class: type[MotionGate]) -> None:
    image = bus()
    gate = gate_class()
    gate(view(image, 0))
    gate.mark_detected()
    woke = 0
    for step in range(1, 8):
        gate(view(image, 3 * step, step))
        woke += gate.changed
    assert (woke > 0) is (gate_class is MotionGate)


def test_something_moving_on_the_ground_still_wakes_it() -> None:
    image = bus()
    gate = EgoMotionGate()
    gate(view(image, 0))
    gate.mark_detected()
    frame = view(image, 6, 2)
    cv2.rectangle(frame, (300, 200), (360, 320), (20, 200, 20), -1)  # someone walked in
    gate(frame)
    assert gate.changed


def test_align_gives_up_on_a_blank_picture() -> None:
    blank = np.zeros((120, 160), np.uint8)
    assert align(blank, blank) is None
