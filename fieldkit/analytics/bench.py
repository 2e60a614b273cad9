"""`fieldkit bench analytics`: the pipeline against the naive baseline on one generated
scene, plus condition-to-incident latency.

Both runs read the same pre-rendered JPEG frames of a 1280x720 scene (60 s by default)
and are scored against the same truth: people visible enough to count whose feet are
in the zone.

- baseline: ``model.predict`` at 640 on every frame, counting boxes whose feet fall in
  the zone;
- pipeline: motion gate, zone region at native resolution, at most ``analyse_fps``
  detector runs per second, ByteTrack; a frame not sent to the detector keeps the last
  count (that is what the node reports for it).

Throughput is frames given a count per second of wall time. Latency runs the real
threads in real time against a real SQLite log: a crowd (0.3/m², 9 people in the zone)
arrives at a known second and the over-capacity (3) incident must be committed within
1 s after the dwell time.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from fieldkit.analytics.config import (
    CameraSection,
    CamerasSection,
    RulesSection,
    SceneFlowSection,
    SceneSection,
    ZoneSection,
)
from fieldkit.analytics.detector import Detector, export_openvino, prepare_ultralytics
from fieldkit.analytics.ingest import CameraWorker, Frame
from fieldkit.analytics.pipeline import Analyser, CameraPipeline, SceneCapture
from fieldkit.analytics.rules import AlertAction, apply_actions
from fieldkit.analytics.scene import (
    CrowdScene,
    SceneFrame,
    cut_out_people,
    synthetic_camera,
)

ZONE = [(-3.0, 4.0), (3.0, 4.0), (3.0, 9.0), (-3.0, 9.0)]


@dataclass
class AnalyticsBench:
    frames: int
    seconds: float
    baseline_fps: float
    baseline_mae: float
    pipeline_fps: float
    pipeline_detector_runs: int
    pipeline_mae: float
    ratio: float
    latency_after_dwell_s: float | None
    dwell_s: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def table(self) -> str:
        lat = "n/a" if self.latency_after_dwell_s is None else \
            f"{self.latency_after_dwell_s:.2f} s"
        return "\n".join([
            f"scene: {self.seconds:.0f} s, {self.frames} frames 1280x720, zone 30 m²",
            f"{'':24}{'frames/s':>10}{'count MAE':>11}",
            f"{'baseline predict@640':24}{self.baseline_fps:>10.2f}{self.baseline_mae:>11.2f}",
            f"{'pipeline':24}{self.pipeline_fps:>10.2f}{self.pipeline_mae:>11.2f}"
            f"   ({self.pipeline_detector_runs} detector runs)",
            f"ratio (pipeline / baseline throughput): {self.ratio:.1f}x",
            f"condition -> incident committed, after the {self.dwell_s:.0f} s dwell: {lat}",
        ])


def bench_scene(seconds: float, fps: float) -> SceneSection:
    """Pilgrims walking at 0.3/m², a stop from 40% to 60% of the run (stop-and-go: the
    gate skips the still frames), a counter-flow group in the second half."""
    stop, go = seconds * 0.4, seconds * 0.6
    return SceneSection(
        width=1280, height=720, fps=fps, seed=3,
        flows=[SceneFlowSection(area=(-5, 2, 5, 12), density=0.3, speed_m_s=1.0,
                                phases=[(stop, 0.3, 0.0), (go, 0.3, 1.0)]),
               SceneFlowSection(area=(-1, 3, 1, 10), density=0.0, speed_m_s=1.0,
                                direction_deg=180, phases=[(go, 0.4, 1.0)])])


def _camera(scene: SceneSection, **extra: object) -> CameraSection:
    zone = ZoneSection(name="zone", polygon=ZONE, capacity=extra.pop("capacity", None))
    return synthetic_camera("bench", scene, [zone], **extra)


def _decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image)


def _truth(frame: SceneFrame) -> int:
    return sum(1 for p in frame.people
               if p.countable and -3 <= p.x <= 3 and 4 <= p.y <= 9)


def run_analytics_bench(*, seconds: float = 60.0, fps: float = 5.0, analyse_fps: float = 1.0,
                        roi_imgsz: int = 640, backend: str = "torch",
                        latency: bool = True, progress: Callable[[str], None] | None = None,
                        settings_dir: Path | None = None) -> AnalyticsBench:
    say = progress or (lambda _msg: None)
    prepare_ultralytics(settings_dir or Path(tempfile.gettempdir()) / "fieldkit-ultralytics")
    detector = Detector(threads=2)
    sprites = cut_out_people(detector)
    scene_cfg = bench_scene(seconds, fps)
    camera = _camera(scene_cfg, analyse_fps=analyse_fps)
    scene = CrowdScene(scene_cfg, sprites)
    n = int(seconds * fps)
    say(f"rendering {n} frames...")
    jpegs: list[bytes] = []
    truth: list[int] = []
    for _ in range(n):
        f = scene.next_frame()
        jpegs.append(cv2.imencode(".jpg", f.image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
        truth.append(_truth(f))
    pipe_detector = detector
    if backend == "openvino":  # the baseline stays model.predict on the torch checkpoint
        cache = (settings_dir or Path(tempfile.gettempdir()) / "fieldkit-ultralytics") / "models"
        pipe_detector = Detector(export_openvino(detector.model_path, cache, roi_imgsz),
                                 threads=2)
    analyser = Analyser(camera, CamerasSection(), pipe_detector, roi_imgsz_max=roi_imgsz)
    cal = analyser.calibration
    assert cal is not None
    zone = analyser.zones[0]

    say("baseline: model.predict at 640 on every frame...")
    errors: list[int] = []
    started = time.perf_counter()
    for i, data in enumerate(jpegs):
        image = _decode(data)
        dets = detector.detect(image, imgsz=640)
        feet = cal.image_to_ground(np.array([d.foot for d in dets]).reshape(-1, 2))
        count = sum(1 for g in feet if not np.isnan(g).any() and zone.contains(*g))
        errors.append(count - truth[i])
    base_s = time.perf_counter() - started
    base_mae = float(np.mean(np.abs(errors)))

    say(f"pipeline ({backend}): gate + zone region + <= {analyse_fps} analysed frames/s + "
        "ByteTrack...")
    errors = []
    runs = 0
    last_t = -1e9
    count = 0
    started = time.perf_counter()
    for i, data in enumerate(jpegs):
        t = i / fps
        image = _decode(data)
        frame = Frame("bench", i, t, 0, image)
        if t - last_t >= 1 / analyse_fps - 1e-9:
            last_t = t
            result = analyser.process(frame)
            runs += result.detected
            count = result.zones[0].count
        else:
            analyser.observe(frame)
        errors.append(count - truth[i])
    pipe_s = time.perf_counter() - started
    pipe_mae = float(np.mean(np.abs(errors)))
    lat = _latency(detector, sprites, say) if latency else None
    return AnalyticsBench(n, seconds, n / base_s, base_mae, n / pipe_s, runs, pipe_mae,
                          (n / pipe_s) / (n / base_s), lat, 3.0)


def _latency(detector: Detector, sprites: list, say: Callable[[str], None]) -> float | None:
    """Real time: a crowd enters the zone at 4 s; over capacity must be committed within
    1 s after the 3 s dwell."""
    from fieldkit.identity import Keyring, NodeIdentity
    from fieldkit.log import IncidentLog
    from fieldkit.store import Store

    arrive = 4.0
    scene = SceneSection(width=1280, height=720, fps=10, seed=5, flows=[
        SceneFlowSection(area=(-5, 2, 5, 12), density=0.02, speed_m_s=0.8,
                         phases=[(arrive, 0.3, 0.8)])])
    camera = _camera(scene, analyse_fps=4.0, capacity=3)
    cameras = CamerasSection(rules=RulesSection(dwell_s=3.0, clear_s=5.0))
    say("latency: real-time camera, crowd arrives at 4 s, capacity 3, dwell 3 s...")
    with tempfile.TemporaryDirectory() as tmp:
        identity = NodeIdentity.generate("BENCH")
        store = Store(Path(tmp) / "bench.db")
        log = IncidentLog(store, identity, Keyring.from_names(identity, {}))
        committed: list[float] = []
        started: list[float] = []

        def sink(actions: list[AlertAction], snapshot: bytes | None) -> None:
            apply_actions(log, actions, snapshot)
            if any(a.condition.rule.startswith("capacity") for a in actions):
                committed.append(time.monotonic())

        crowd = CrowdScene(scene, sprites)

        def capture() -> SceneCapture:
            if not started:
                started.append(time.monotonic())
            return SceneCapture(crowd)

        worker = CameraWorker(camera, capture, fps=scene.fps)
        pipeline = CameraPipeline(Analyser(camera, cameras, detector), worker, sink,
                                  lambda rows: None)
        import asyncio

        async def run() -> None:
            await pipeline.start()
            deadline = time.monotonic() + arrive + 3.0 + 10.0
            while not committed and time.monotonic() < deadline:
                await asyncio.sleep(0.1)  # the bench's own clock, not a test
            await pipeline.stop()

        asyncio.run(run())
        store.close()
    if not committed or not started:
        return None
    return committed[0] - (started[0] + arrive + 3.0)
