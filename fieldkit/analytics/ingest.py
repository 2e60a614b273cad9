"""Camera ingest: one named thread per camera reads frames through OpenCV (RTSP, HTTP
MJPEG, USB, files looped or once) or renders the synthetic scene, reconnects with
backoff, and keeps health figures. Frames go to a bounded queue that keeps only the
newest (a live camera is never analysed late); ``None`` ends the stream.

:class:`PictureCheck` judges single frames (frozen, covered, blurred) for the
camera-fault rule.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from fieldkit.analytics.config import CameraSection

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture from a camera."""

    camera: str
    index: int
    """Frames read since the worker started."""
    t: float
    """Monotonic seconds when read."""
    wall_ms: int
    image: np.ndarray
    """BGR."""


class CameraState(StrEnum):
    NEW = "new"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    """A file played once has ended."""
    STOPPED = "stopped"


@dataclass
class Health:
    """What the crew sees about a camera."""

    state: CameraState = CameraState.NEW
    frames_in: int = 0
    frames_analysed: int = 0
    reconnects: int = 0
    last_frame_ms: int | None = None
    last_error: str = ""
    _in: deque[float] = field(default_factory=lambda: deque(maxlen=50))
    _analysed: deque[float] = field(default_factory=lambda: deque(maxlen=50))

    @staticmethod
    def _rate(times: deque[float]) -> float:
        if len(times) < 2 or times[-1] == times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    @property
    def fps_in(self) -> float:
        return round(self._rate(self._in), 2)

    @property
    def fps_analysed(self) -> float:
        return round(self._rate(self._analysed), 2)

    def mark_analysed(self, t: float) -> None:
        self.frames_analysed += 1
        self._analysed.append(t)

    def as_dict(self) -> dict[str, object]:
        return {"state": self.state.value, "fps_in": self.fps_in,
                "fps_analysed": self.fps_analysed, "frames_in": self.frames_in,
                "frames_analysed": self.frames_analysed, "reconnects": self.reconnects,
                "last_frame_ms": self.last_frame_ms, "last_error": self.last_error}


class Capture(Protocol):
    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def release(self) -> None: ...


CaptureFactory = Callable[[], Capture]


def open_source(source: str) -> Capture:
    """An OpenCV capture for ``source`` (raises OSError when it cannot be opened)."""
    if source.startswith("usb:"):
        cap = cv2.VideoCapture(int(source[4:]))
    elif "://" in source:
        cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG)
    else:
        if not Path(source).exists():
            raise OSError(f"no such file: {source}")
        cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise OSError(f"cannot open {source}")
    return cap


class CameraWorker:
    """Reads one camera in the thread ``camera-NAME``.

    :param camera: the camera's config.
    :param factory: opens the source (default: :func:`open_source`; the synthetic scene
        passes its own).
    :param fps: pacing for files and synthetic scenes when ``camera.realtime``.
    """

    def __init__(self, camera: CameraSection, factory: CaptureFactory | None = None,
                 fps: float | None = None, backoff_s: float = 0.5, backoff_max_s: float = 10.0,
                 queue_size: int = 2) -> None:
        self.camera = camera
        self.name = camera.name
        self._factory = factory or (lambda: open_source(camera.source))
        self._fps = fps
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.frames: queue.Queue[Frame | None] = queue.Queue(maxsize=queue_size)
        self.health = Health()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state_changed = threading.Condition()
        self._is_file = "://" not in camera.source and not camera.source.startswith("usb:") \
            and camera.source != "synthetic"

    def _set_state(self, state: CameraState) -> None:
        if state is not self.health.state:
            logger.info("camera %s: %s -> %s", self.name, self.health.state, state)
        with self.state_changed:
            self.health.state = state
            self.state_changed.notify_all()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reading (safe twice); the consumer receives ``None``."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)
        self._set_state(CameraState.STOPPED)

    def _run(self) -> None:
        delay = self.backoff_s
        index = 0
        self._set_state(CameraState.CONNECTING)
        while not self._stop.is_set():
            try:
                cap = self._factory()
            except (OSError, cv2.error) as exc:
                self.health.last_error = str(exc)
                if self._is_file and Path(self.camera.source).exists():
                    # There, but not a video OpenCV can read: retrying will not help.
                    self.health.last_error = f"{self.camera.source}: not a readable video"
                    self._set_state(CameraState.ENDED)
                    break
                self._set_state(CameraState.RECONNECTING)
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max_s)
                continue
            got_any = False
            try:
                index, got_any = self._read(cap, index)
            finally:
                cap.release()
            if got_any:
                delay = self.backoff_s
            if self._stop.is_set():
                break
            if self._is_file and (not self.camera.loop or not got_any):
                if not got_any:
                    self.health.last_error = f"{self.camera.source}: no decodable frame"
                self._set_state(CameraState.ENDED)
                break
            if not self._is_file:
                self.health.reconnects += 1
                self._set_state(CameraState.RECONNECTING)
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max_s)
        self._put(None)

    def _read(self, cap: Capture, index: int) -> tuple[int, bool]:
        got_any = False
        fps = self._fps
        if fps is None and self._is_file and hasattr(cap, "get"):
            fps = float(cap.get(cv2.CAP_PROP_FPS)) or None  # a file plays at its own rate
        period = 1 / fps if fps and self.camera.realtime else 0.0
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                ok, image = cap.read()
            except cv2.error as exc:
                self.health.last_error = str(exc)
                ok, image = False, None
            if not ok or image is None or image.size == 0:
                return index, got_any
            if not got_any:
                got_any = True
                self._set_state(CameraState.STREAMING)
            now = time.monotonic()
            self.health.frames_in += 1
            self.health._in.append(now)
            self.health.last_frame_ms = int(time.time() * 1000)
            self._put(Frame(self.name, index, now, self.health.last_frame_ms, image))
            index += 1
            if period:
                next_at = max(next_at + period, now - period)
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        return index, got_any

    def _put(self, frame: Frame | None) -> None:
        """Keep only the newest frames: a stale frame is dropped, never waited for."""
        while True:
            try:
                self.frames.put_nowait(frame)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.frames.get_nowait()


class PictureCheck:
    """Judges single frames: frozen (same picture), covered (dark or uniform), blurred.

    :param blur_var: variance of the Laplacian below which a frame is blurred.
    """

    def __init__(self, blur_var: float = 12.0, dark: float = 18.0, flat_std: float = 6.0,
                 still_diff: float = 0.15) -> None:
        self.blur_var, self.dark, self.flat_std, self.still_diff = \
            blur_var, dark, flat_std, still_diff
        self._last: np.ndarray | None = None
        self._changed_at: float | None = None

    def __call__(self, image: np.ndarray, t: float) -> tuple[str | None, float]:
        """("covered"/"blurred"/None, seconds the picture has not changed)."""
        small = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (160, 90),
                           interpolation=cv2.INTER_AREA)
        if self._last is None or float(cv2.absdiff(small, self._last).mean()) > self.still_diff:
            self._changed_at = t
        self._last = small
        frozen_for = t - (self._changed_at if self._changed_at is not None else t)
        mean, std = float(small.mean()), float(small.std())
        if mean < self.dark or std < self.flat_std:
            return "covered", frozen_for
        grey = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (320, 180),
                          interpolation=cv2.INTER_AREA)
        if float(cv2.Laplacian(grey, cv2.CV_64F).var()) < self.blur_var:
            return "blurred", frozen_for
        return None, frozen_for
