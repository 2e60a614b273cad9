"""Pictures that leave the pipeline: faces blurred in what is stored (a real face image,
the real CenterFace model), boxes drawn on their own frame, and at most one snapshot per
incident per interval plus one per severity change."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
from conftest import camera_for, small_scene

from fieldkit.analytics.config import CamerasSection
from fieldkit.analytics.detector import Detector
from fieldkit.analytics.ingest import Frame
from fieldkit.analytics.picture import FaceBlur, SnapshotPolicy, draw_snapshot, face_blur
from fieldkit.analytics.pipeline import Analyser
from fieldkit.analytics.rules import Action, AlertAction, Condition
from fieldkit.analytics.scene import CrowdScene, Sprite
from fieldkit.log import IncidentLog

ZIDANE = Path(str(importlib.util.find_spec("ultralytics").origin)).parent / "assets" / \
    "zidane.jpg"


def _sharpness(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x1, y1, x2, y2 = box
    grey = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def test_every_face_is_blurred_in_the_stored_snapshot(log: IncidentLog) -> None:
    image = cv2.imread(str(ZIDANE))
    faces = face_blur().faces(image)
    assert face_blur().method == "centerface"
    assert len(faces) >= 2  # both men's faces
    created = log.create(title="t", kind="person_down", severity=3)
    log.attach(created.id, draw_snapshot(image, [], [], [], max_width=1280), "s.jpg",
               "image/jpeg")
    (attachment,) = log.get(created.id).attachments
    _, data = log.blob(attachment.blob)
    stored = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    for box in faces:
        # Blurred: a fifth of the detail left (a low-score "face" on a smooth background
        # has little to lose: a floor of 3; the two faces: 221 and 297 -> 2.6 and 2.4).
        assert _sharpness(stored, box) < max(3.0, 0.2 * _sharpness(image, box)), box
    kept = draw_snapshot(image, [], [], [], max_width=1280, blur=False)
    sharp = cv2.imdecode(np.frombuffer(kept, np.uint8), cv2.IMREAD_COLOR)
    assert _sharpness(sharp, faces[0]) > 0.5 * _sharpness(image, faces[0])


def test_faces_are_found_alike_whatever_size_came_before() -> None:
    """One blurrer serves every camera and drone feed of a node: frames of another size in
    between must not change what it finds (OpenCV's network, reshaped, found 3,040)."""
    image = cv2.imread(str(ZIDANE))
    blurrer = FaceBlur()
    first = blurrer.faces(image)
    assert len(first) == 2
    for size in ((960, 540), (810, 1080), (640, 480)):
        assert len(blurrer.faces(cv2.resize(image, size))) <= 4
        assert blurrer.faces(image) == first


def _act(action: Action, severity: int = 3) -> AlertAction:
    return AlertAction(action, "cam1", Condition("density:z1", "crowd_density", severity,
                                                 "High crowd density in z1", ""))


def test_one_snapshot_per_interval_plus_one_per_severity_change() -> None:
    policy = SnapshotPolicy(60.0)
    steps = [(0, _act(Action.RAISE)), (5, _act(Action.UPDATE)), (30, _act(Action.UPDATE)),
             (31, _act(Action.UPDATE, 5)), (40, _act(Action.UPDATE, 5)),
             (95, _act(Action.UPDATE, 5)), (96, _act(Action.CLEAR, 5))]
    pictured = [t for t, act in steps if policy.pictured([act], t)]
    assert pictured == [0, 31, 95]


def test_boxes_are_drawn_on_the_frame_they_were_found_in(detector: Detector,
                                                         sprites: list[Sprite]) -> None:
    settings = small_scene(0.0, fallen=[(0.5, 6.0, 1e9)])  # one person standing still
    analyser = Analyser(camera_for(settings), CamerasSection(), detector)
    scene = CrowdScene(settings, sprites)
    detected_on = None
    for i in range(6):
        frame = Frame("cam1", i, i / 5, 0, scene.next_frame().image)
        result = analyser.process(frame)
        if result.detected:
            detected_on = frame.image
    assert not result.detected  # the gate skipped the still frames
    shown = analyser.shown()
    assert shown is not None
    assert shown[0] is detected_on
