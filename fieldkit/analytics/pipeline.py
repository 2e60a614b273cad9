"""The per-camera pipeline: motion gate -> detector -> tracker -> ground -> zones ->
rules -> incidents, and the runtime that runs every configured camera in a node.

:class:`Analyser` is the synchronous per-frame logic (tests and the bench call it
directly). :class:`CameraPipeline` runs one in the thread ``analyse-NAME`` fed by a
:class:`~fieldkit.analytics.ingest.CameraWorker`. :class:`AnalyticsRuntime` owns the
shared detector and hands incident writes to the node's store thread.

Both cores are used: torch computes with ``cameras.threads`` intra-op threads and
releases the GIL while it does, so decoding (OpenCV, also GIL-free) and rules run
alongside.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from fieldkit.analytics.calibration import Calibration
from fieldkit.analytics.config import CameraSection, CamerasSection
from fieldkit.analytics.density import DensityCounter
from fieldkit.analytics.detector import (
    Detection,
    Detector,
    default_model_path,
    export_openvino,
    openvino_available,
    prepare_ultralytics,
)
from fieldkit.analytics.ingest import CameraWorker, Frame, PictureCheck
from fieldkit.analytics.motion import MotionGate
from fieldkit.analytics.picture import SnapshotPolicy, draw_snapshot
from fieldkit.analytics.rules import (
    AlertAction,
    Condition,
    RuleEngine,
    SpeedBaseline,
    apply_actions,
    conditions,
    open_alerts,
)
from fieldkit.analytics.tracker import Track, Tracker
from fieldkit.analytics.zonecount import ZoneCounter, load_density
from fieldkit.analytics.zones import (
    WindowAccumulator,
    Zone,
    ZoneMetrics,
    ZoneState,
    measure,
    store_metrics,
)

logger = logging.getLogger(__name__)

#: Default largest inference size of the zones' region (``cameras.roi_imgsz``).
MAX_ROI_IMGSZ = 640

ActionSink = Callable[[list[AlertAction], bytes | None], None]
MetricsSink = Callable[[list[ZoneMetrics]], None]


@dataclass
class FrameResult:
    """What the analyser made of one frame."""

    frame: Frame
    detected: bool
    """The detector ran (False: the motion gate let the last tracks stand)."""
    detections: list[Detection]
    tracks: list[Track]
    zones: list[ZoneState]
    actions: list[AlertAction] = field(default_factory=list)
    metrics: list[ZoneMetrics] = field(default_factory=list)
    snapshot: bytes | None = None
    pictured: set[str] = field(default_factory=set)
    """Rules whose incidents get ``snapshot`` (:class:`SnapshotPolicy`)."""


def zones_roi(zones: list[Zone], width: int, height: int) -> tuple[int, int, int, int] | None:
    """Pixel rectangle holding every zone and the people standing in them (heads reach
    above the zone's image): None when that is most of the frame anyway."""
    if not zones:
        return None
    xs: list[float] = []
    ys: list[float] = []
    for zone in zones:
        for (u, v), px_per_m in zip(zone.image_polygon, zone.px_per_m, strict=True):
            xs += [u - px_per_m * 0.5, u + px_per_m * 0.5]
            ys += [v - px_per_m * 2.0, v + px_per_m * 0.2]
    x1, y1 = max(0, int(min(xs))), max(0, int(min(ys)))
    x2, y2 = min(width, int(max(xs)) + 1), min(height, int(max(ys)) + 1)
    if x2 - x1 < 32 or y2 - y1 < 32 or (x2 - x1) * (y2 - y1) > 0.85 * width * height:
        return None
    return x1, y1, x2, y2


class Analyser:
    """Per-frame analysis of one camera (not thread-safe: one thread calls it).

    :param camera: the camera's config.
    :param cameras: the section (rules, window, detector settings).
    :param detector: shared by every camera of the node.
    :param active: rules with an open alert (from the store), so a restart does not raise
        them twice.
    :param gate: use the motion gate and the zone region of interest; False analyses the
        whole frame every time (the bench's naive baseline goes further still).
    :param density: the node's density-map counter (None: the detector alone).
    """

    def __init__(self, camera: CameraSection, cameras: CamerasSection, detector: Detector,
                 active: dict[str, int] | None = None, *, gate: bool = True,
                 refresh_s: float = 5.0, roi_imgsz_max: int = MAX_ROI_IMGSZ,
                 density: DensityCounter | None = None) -> None:
        self.camera = camera
        self.name = camera.name
        self.detector = detector
        self.rules = cameras.rules
        self.window_s = cameras.window_s
        self.calibration = Calibration(camera.calibration, camera.name) \
            if camera.calibration else None
        self.zones = [Zone(z, self.calibration) for z in camera.zones] \
            if self.calibration else []
        self._zone_map = {z.name: z for z in self.zones}
        self.counter = ZoneCounter(camera.name, self.zones, density, cameras.density_every_s)
        self._detections: list[Detection] = []
        self.engine = RuleEngine(camera.name, cameras.rules, active)
        self.tracker = Tracker(frame_rate=camera.analyse_fps, confidence=detector.confidence)
        self.gate = MotionGate() if gate else None
        self.refresh_s = refresh_s
        self.roi_imgsz_max = roi_imgsz_max
        self.picture = PictureCheck()
        self._baselines: dict[str, SpeedBaseline] = {}
        self._roi: tuple[int, int, int, int] | None = None
        self._roi_for: tuple[int, int] | None = None
        self._use_roi = gate
        self._last_detect_t: float | None = None
        self._tracks: list[Track] = []
        self._people: np.ndarray | None = None
        self._windows: dict[str, WindowAccumulator] = {}
        self._window_start: float | None = None
        self.last_frame_t: float | None = None
        self._shown: tuple[np.ndarray, list[Track]] | None = None
        """The last frame the detector ran on, with its own tracks (what is drawn)."""
        self.snapshots = SnapshotPolicy(cameras.snapshot_interval_s)
        self.blur = cameras.blur_faces
        self.last_states: list[ZoneState] = []

    def roi(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        if not self._use_roi or self.calibration is None:
            return None
        if self._roi_for != (width, height):
            self._roi_for = (width, height)
            self._roi = zones_roi(self.zones, width, height)
        return self._roi

    def _roi_imgsz(self, roi: tuple[int, int, int, int] | None) -> int | None:
        """The zone region at its native resolution (up to ``MAX_ROI_IMGSZ``): this model
        finds people far better at 100+ pixels tall than shrunk to fit 640."""
        if roi is None:
            return None
        side = max(roi[2] - roi[0], roi[3] - roi[1])
        return int(min(self.roi_imgsz_max, max(self.detector.imgsz, -(-side // 32) * 32)))

    def observe(self, frame: Frame) -> None:
        """A frame not analysed (over the analysed rate): the gate still sees it."""
        if self.gate is not None:
            self.gate(frame.image)

    def process(self, frame: Frame) -> FrameResult:
        t = frame.t
        self.last_frame_t = t
        image = frame.image
        run = True
        if self.gate is not None:
            self.gate(image)
            stale = self._last_detect_t is None or t - self._last_detect_t >= self.refresh_s
            run = self.gate.changed or stale
        detections: list[Detection] = []
        if run:
            h, w = image.shape[:2]
            roi = self.roi(w, h)
            detections = self.detector.detect(image, roi=roi, imgsz=self._roi_imgsz(roi))
            ground = None
            if self.calibration is not None and detections:
                ground = self.calibration.image_to_ground(
                    np.array([d.foot for d in detections]))
            self._people, self._detections = ground, detections
            self._tracks = self.tracker.update(detections, t, ground, roi or (0, 0, w, h))
            self._shown = (image, self._tracks)
            self._last_detect_t = t
            if self.gate is not None:
                self.gate.mark_detected()
        if self.zones and self.counter.due(t):
            h, w = image.shape[:2]
            self.counter.run_map(image, self.roi(w, h), self._detections, t)
        states = self.counter.refine(
            [measure(z, self._tracks, t, self._people) for z in self.zones],
            self._detections, self._people, t)
        self.last_states = states
        held = conditions(states, self._zone_map, self._tracks, self.rules, self.engine.active,
                          self._baselines)
        held += self._picture_faults(image, t)
        result = FrameResult(frame, run, detections, self._tracks, states)
        result.actions = self.engine.evaluate(t, held)
        result.metrics = self._accumulate(states, t, frame.wall_ms)
        result.pictured = self.snapshots.pictured(result.actions, t)
        if result.pictured:
            result.snapshot = self.last_snapshot()
        return result

    def shown(self) -> tuple[np.ndarray, list[Track]] | None:
        """The last frame the detector ran on and its own tracks (boxes where the people
        are: a newer frame would show them 40-60 px off)."""
        return self._shown

    def last_snapshot(self) -> bytes | None:
        """The last analysed picture, zones and its own boxes drawn, faces blurred."""
        if self._shown is None:
            return None
        image, tracks = self._shown
        return draw_snapshot(image, self.zones, tracks, self.last_states, blur=self.blur)

    def _picture_faults(self, image: np.ndarray, t: float) -> list[Condition]:
        problem, frozen_for = self.picture(image, t)
        if frozen_for >= self.camera.frozen_s:
            return [_fault(self.name, "frozen", f"the picture has not changed for "
                           f"{frozen_for:.0f} s", 0.0)]
        if problem is not None:
            text = {"covered": "the picture is dark or uniform (lens covered?)",
                    "blurred": "the picture is blurred (focus, dirt or fog?)"}[problem]
            return [_fault(self.name, problem, text, None)]
        return []

    def tick(self, t: float) -> list[AlertAction]:
        """No frame arrived: check for a dead camera (only fault rules move)."""
        if self.last_frame_t is None:
            self.last_frame_t = t
        quiet = t - self.last_frame_t
        held = []
        if quiet >= self.camera.dead_s:
            held.append(_fault(self.name, "dead", f"no picture for {quiet:.0f} s", 0.0))
        return self.engine.evaluate(t, held, scope={"fault"})

    def _accumulate(self, states: list[ZoneState], t: float, wall_ms: int) -> list[ZoneMetrics]:
        if self._window_start is None:
            self._window_start = t
            self._windows = {s.zone: WindowAccumulator(self.name, s.zone, wall_ms)
                             for s in states}
        for s in states:
            self._windows[s.zone].add(s)
        if t - self._window_start < self.window_s:
            return []
        rows = [m for w in self._windows.values() if (m := w.close(wall_ms)) is not None]
        self._window_start = None
        return rows


def _fault(camera: str, kind: str, text: str, hold: float | None) -> Condition:
    return Condition("fault:camera", "camera_fault", 3, f"Camera {camera} {kind}",
                     f"{kind}: {text}", None, hold)


class PipelineState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class CameraPipeline:
    """Ingest thread + analysis thread for one camera.

    :param on_actions: called (on the analysis thread) with actions and a snapshot.
    :param on_metrics: called with closed metrics windows.
    """

    def __init__(self, analyser: Analyser, worker: CameraWorker, on_actions: ActionSink,
                 on_metrics: MetricsSink, on_result: Callable[[FrameResult], None] | None = None
                 ) -> None:
        self.analyser = analyser
        self.worker = worker
        self.name = analyser.name
        self._on_actions, self._on_metrics, self._on_result = on_actions, on_metrics, on_result
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = PipelineState.NEW
        self._min_period = 1 / analyser.camera.analyse_fps

    @property
    def health(self) -> dict[str, object]:
        return self.worker.health.as_dict()

    async def start(self) -> None:
        if self.state is not PipelineState.NEW:
            return
        self.worker.start()
        self._thread = threading.Thread(target=self._run, name=f"analyse-{self.name}",
                                        daemon=True)
        self._thread.start()
        self._set_state(PipelineState.RUNNING)

    async def stop(self) -> None:
        """Stop both threads (safe twice)."""
        if self.state is PipelineState.STOPPED:
            return
        self._stop.set()
        await asyncio.to_thread(self.worker.stop)
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, 30)
        self._set_state(PipelineState.STOPPED)

    def _set_state(self, state: PipelineState) -> None:
        logger.info("pipeline %s: %s -> %s", self.name, self.state, state)
        self.state = state

    def _run(self) -> None:
        last = -1e9
        while not self._stop.is_set():
            try:
                frame = self.worker.frames.get(timeout=0.5)
            except queue.Empty:
                actions = self.analyser.tick(time.monotonic())
                self._emit(actions, self.analyser.last_snapshot() if actions else None, [])
                continue
            if frame is None:
                break
            if frame.t - last < self._min_period * 0.95:
                self.analyser.observe(frame)  # over the analysed rate: motion only
                continue
            last = frame.t
            try:
                result = self.analyser.process(frame)
            except Exception:
                logger.exception("camera %s: analysis of frame %d failed", self.name,
                                 frame.index)
                continue
            self.worker.health.mark_analysed(time.monotonic())
            pictured = [a for a in result.actions if a.condition.rule in result.pictured]
            self._emit(pictured, result.snapshot, result.metrics)
            self._emit([a for a in result.actions if a not in pictured], None, [])
            if self._on_result is not None:
                self._on_result(result)

    def _emit(self, actions: list[AlertAction], snapshot: bytes | None,
              metrics: list[ZoneMetrics]) -> None:
        try:
            if actions:
                self._on_actions(actions, snapshot)
            if metrics:
                self._on_metrics(metrics)
        except Exception:
            logger.exception("camera %s: cannot record analytics", self.name)


def make_worker(camera: CameraSection, detector: Detector,
                cache_dir: Path | None = None) -> CameraWorker:
    """The ingest worker for ``camera``; 'synthetic' renders the crowd scene (its person
    cut-outs cached in ``cache_dir``)."""
    if camera.source != "synthetic":
        return CameraWorker(camera)
    from fieldkit.analytics.scene import CrowdScene, cut_out_people

    sprites = cut_out_people(detector, cache_dir)
    return CameraWorker(camera, lambda: SceneCapture(CrowdScene(camera.scene, sprites)),
                        fps=camera.scene.fps)


class SceneCapture:
    """The synthetic scene behind OpenCV's capture interface (read, release)."""

    def __init__(self, scene: Any) -> None:
        self.scene = scene

    def read(self) -> tuple[bool, np.ndarray | None]:
        return True, self.scene.next_frame().image

    def release(self) -> None:
        return None


def load_detector(cameras: CamerasSection, base_dir: Path) -> Detector:
    """The node's detector; the model path resolves against the node directory, and an
    OpenVINO export (when chosen or available) is cached under ``.ultralytics/models``."""
    prepare_ultralytics(base_dir / ".ultralytics")
    model = cameras.model
    if model is not None and not model.is_absolute():
        model = base_dir / model
    source = model or default_model_path()
    use_openvino = cameras.backend == "openvino" or (
        cameras.backend == "auto" and openvino_available() and source.suffix == ".pt")
    if use_openvino:
        source = export_openvino(source, base_dir / ".ultralytics" / "models",
                                 max(cameras.imgsz, cameras.roi_imgsz))
    return Detector(source, imgsz=cameras.imgsz, confidence=cameras.confidence,
                    threads=cameras.threads)


class AnalyticsRuntime:
    """Every configured camera of a node, writing incidents through its store thread.

    :param cameras: the ``[cameras]`` section.
    :param base_dir: the node directory.
    :param worker: the node's :class:`~fieldkit.worker.LogWorker`.
    :param on_write: called on the event loop after incidents were written (wakes the
        live event feed).
    """

    def __init__(self, cameras: CamerasSection, base_dir: Path, worker: Any,
                 on_write: Callable[[], None] | None = None) -> None:
        self.cameras = cameras
        self.base_dir = base_dir
        self.worker = worker
        self.on_write = on_write
        self.pipelines: dict[str, CameraPipeline] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.detector: Detector | None = None

    async def start(self) -> None:
        if self._loop is not None or not self.cameras.enabled or not self.cameras.cameras:
            return
        self._loop = asyncio.get_running_loop()
        self.detector = await asyncio.to_thread(load_detector, self.cameras, self.base_dir)
        density = await asyncio.to_thread(load_density, self.cameras, self.base_dir)
        for cam in self.cameras.cameras:
            active = await self.worker.call(open_alerts, self.worker.log, cam.name)
            analyser = Analyser(cam, self.cameras, self.detector, active,
                                roi_imgsz_max=self.cameras.roi_imgsz, density=density)
            camera_worker = await asyncio.to_thread(make_worker, cam, self.detector,
                                                    self.base_dir / ".ultralytics" / "models")
            pipeline = CameraPipeline(analyser, camera_worker,
                                      self._action_sink(camera_location(analyser)),
                                      self._store_sink)
            self.pipelines[cam.name] = pipeline
            await pipeline.start()

    async def stop(self) -> None:
        """Stop every camera (safe twice)."""
        for pipeline in self.pipelines.values():
            await pipeline.stop()

    def health(self) -> dict[str, dict[str, object]]:
        return {name: p.health for name, p in self.pipelines.items()}

    def _action_sink(self, location: dict[str, Any] | None) -> ActionSink:
        def sink(actions: list[AlertAction], snapshot: bytes | None) -> None:
            self._submit(apply_actions, self.worker.log, actions, snapshot, location)

        return sink

    def _store_sink(self, rows: list[ZoneMetrics]) -> None:
        self._submit(_store_rows, self.worker.log, rows)

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """From an analysis thread: run ``fn`` on the store thread, in order."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._write(fn, *args), self._loop)
        future.add_done_callback(_log_failure)

    async def _write(self, fn: Callable[..., Any], *args: Any) -> None:
        await self.worker.call(fn, *args)
        if self.on_write is not None:
            self.on_write()


def _log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("analytics: writing to the log failed: %s", future.exception())


def _store_rows(log: Any, rows: list[ZoneMetrics]) -> None:
    with log.store.write() as conn:
        store_metrics(conn, rows)


def camera_location(analyser: Analyser) -> dict[str, Any] | None:
    """lat/lon of the watched area's centre (the zones', else the landmarks'), when the
    calibration is geo-anchored (lat/lon points, or an origin and bearing)."""
    cal = analyser.calibration
    if cal is None:
        return None
    zones = [z.polygon for z in analyser.zones]
    centre = cal.centre_latlon(np.vstack(zones) if zones else None)
    return None if centre is None else {"lat": round(centre[0], 7), "lon": round(centre[1], 7)}
