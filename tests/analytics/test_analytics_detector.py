"""The real default model on real and generated pictures.

Measured bounds (640x360 frames, imgsz 640, 8 frames x seeds 1-4, this checkpoint):
density 0.15/m²: per-frame count MAE 0.75-1.75; 0.25/m²: 1.0-2.0; 0.4/m²: 2.1-8.9.
The model fails in crowds: at 1.0/m² it finds well under half of the visible people
(see test_default_model_undercounts_crowds), which is why thresholds of 4-5.5/m² need a
crowd-trained checkpoint (cameras.model).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_scene, small_scene

from fieldkit.analytics.detector import Detector, default_model_path
from fieldkit.analytics.scene import Sprite, asset_images
from fieldkit.errors import ConfigError

FRAME_MAE_BOUND = 2.5  # measured 1.0-2.0 at 0.25/m² (seeds 1-4)


def test_default_model_is_the_fall_detection_checkpoint(detector: Detector) -> None:
    assert default_model_path().name == "best.pt"
    assert default_model_path().parent.parent.name == "fall_detection"
    assert detector.person_classes == [0]
    assert detector.fall_classes == [1]


def test_finds_the_people_in_bus_jpg(detector: Detector) -> None:
    """Three walk in full view; the fourth, cut by the left edge, is missed at iou 0.6."""
    image = cv2.imread(str(asset_images()[0]))
    people = detector.detect(image, confidence=0.25)
    assert len(people) == 3
    assert all(not p.fallen for p in people)


def test_region_of_interest_returns_full_frame_coordinates(detector: Detector) -> None:
    image = cv2.imread(str(asset_images()[0]))
    full = detector.detect(image, confidence=0.25)
    left = detector.detect(image, roi=(0, 200, 405, 1080), confidence=0.25)
    assert left
    for d in left:
        assert any(abs(d.x1 - f.x1) < 25 and abs(d.y2 - f.y2) < 25 for f in full)


@pytest.mark.parametrize("seed", [1, 2])
def test_count_mae_on_generated_scene(detector: Detector, sprites: list[Sprite],
                                      seed: int) -> None:
    scene = make_scene(small_scene(0.25, seed=seed), sprites)
    errors = []
    for _ in range(6):
        frame = scene.next_frame()
        errors.append(len(detector.detect(frame.image)) - frame.count)
    assert float(np.mean(np.abs(errors))) <= FRAME_MAE_BOUND


@pytest.mark.slow
def test_default_model_undercounts_crowds(detector: Detector, sprites: list[Sprite]) -> None:
    """A known limit, pinned so that a better default model shows up here."""
    frame = make_scene(small_scene(1.0), sprites).next_frame()
    assert len(detector.detect(frame.image)) < 0.6 * frame.count


def test_missing_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cameras.model: .*nope.pt does not exist"):
        Detector(tmp_path / "nope.pt")


def test_model_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match=r"cameras.model: cannot load .*bad.pt"):
        Detector(bad)
