"""Drone feeds into the camera analytics: each WHIP session becomes a camera of the same
pipeline (:class:`fieldkit.analytics.pipeline.CameraPipeline`: motion gate -> detector ->
tracker -> rules -> incidents), with two differences for a moving camera:

- the motion gate compensates the drone's own motion (:class:`EgoMotionGate`);
- people are placed on the ground with the drone's MAVLink pose at the frame's time
  (:meth:`drone.service.DroneService.locate`) when the publisher names a vehicle, and
  incidents carry that position.

Frames enter through :class:`FeedWorker`, a :class:`~fieldkit.analytics.ingest.
CameraWorker` whose frames are pushed by the session instead of read by a thread: the
pipeline cannot tell a drone from a mast camera.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from aiohttp import web

from drone.config import DronesSection
from drone.georef import GeorefError, GroundPoint
from drone.video.config import WebRTCSection, WhipPublisherSection
from drone.video.egomotion import EgoMotionGate
from fieldkit.analytics.config import CameraSection, CamerasSection
from fieldkit.analytics.detector import Detector
from fieldkit.analytics.ingest import CameraState, CameraWorker, Frame
from fieldkit.analytics.pipeline import (
    Analyser,
    CameraPipeline,
    FrameResult,
    load_detector,
)
from fieldkit.analytics.rules import AlertAction, apply_actions, open_alerts
from fieldkit.analytics.tracker import Track
from fieldkit.appkeys import CONFIG, FEED, WORKER
from fieldkit.errors import FieldkitError
from fieldkit.views import CameraView

logger = logging.getLogger(__name__)


class FeedWorker(CameraWorker):
    """A camera whose frames a WHIP session pushes (no thread of its own). Keeps only the
    newest frames, as camera ingest does: a live feed is never analysed late."""

    def __init__(self, camera: CameraSection) -> None:
        super().__init__(camera, queue_size=2)
        self.latest: Frame | None = None

    def start(self) -> None:
        self._set_state(CameraState.STREAMING)

    def stop(self) -> None:
        self._put(None)
        self._set_state(CameraState.STOPPED)

    def push(self, frame: Frame) -> None:
        self.health.frames_in += 1
        self.health._in.append(frame.t)
        self.health.last_frame_ms = frame.wall_ms
        self.latest = frame
        self._put(frame)


@dataclass
class Placed:
    """One detection on the ground."""

    box: tuple[float, float, float, float]
    ground: GroundPoint | None


class DroneAnalyser(Analyser):
    """The camera analyser plus geo-referencing with the drone's pose at frame time."""

    locate: Any = None
    """``DroneService.locate`` when a vehicle is associated with the feed."""
    vehicle: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = EgoMotionGate()
        self.location: dict[str, Any] | None = None
        self.placed: list[Placed] = []
        self.lock = threading.Lock()

    def process(self, frame: Frame) -> FrameResult:
        result = super().process(frame)
        if self.vehicle is not None and self.locate is not None:
            self._place(frame, result)
        return result

    def _place(self, frame: Frame, result: FrameResult) -> None:
        h, w = frame.image.shape[:2]
        at = frame.wall_ms / 1000
        placed = []
        try:
            centre = self._locate(0.5 * w, 0.5 * h, w, h, at)
            self.location = {"lat": round(centre.lat, 7), "lon": round(centre.lon, 7),
                             "accuracy_m": round(min(centre.accuracy_m, 100_000), 1)}
            for d in result.detections:
                u, v = d.foot
                placed.append(Placed((d.x1, d.y1, d.x2, d.y2), self._locate(u, v, w, h, at)))
        except (GeorefError, FieldkitError) as exc:
            logger.debug("feed %s: not geo-referenced: %s", self.name, exc)
        with self.lock:
            self.placed = placed

    def _locate(self, u: float, v: float, w: int, h: int, at: float) -> GroundPoint:
        """Pixel (u, v) of a w x h frame on the ground (the pose's camera model may
        assume another resolution: pixels are scaled to it)."""
        model_w, model_h = self.model_size
        point: GroundPoint = self.locate(self.vehicle, u * model_w / w, v * model_h / h, at)
        return point

    model_size: tuple[int, int] = (1920, 1080)


class DroneFeed:
    """One session's sink: the feed worker, and the pipeline once the detector is there."""

    def __init__(self, feeds: DroneFeeds, publisher: WhipPublisherSection) -> None:
        self.feeds = feeds
        self.publisher = publisher
        self.name = publisher.name
        self.camera = CameraSection(name=publisher.name, source="webrtc",
                                    analyse_fps=feeds.analyse_fps, frozen_s=3600, dead_s=3600)
        self.worker = FeedWorker(self.camera)
        self.pipeline: CameraPipeline | None = None
        self.analyser: DroneAnalyser | None = None
        self.analysed = 0
        self._task = asyncio.create_task(self._start(), name=f"drone-feed-{self.name}")

    async def _start(self) -> None:
        if not self.feeds.app[CONFIG].section(WebRTCSection).analyse:
            self.worker.start()  # live view only: the newest frame is kept, none analysed
            return
        detector = await self.feeds.detector()
        log = self.feeds.app[WORKER]
        active = await log.call(open_alerts, log.log, self.name)
        cameras = self.feeds.app[CONFIG].section(CamerasSection)
        analyser = DroneAnalyser(self.camera, cameras, detector, active)
        analyser.vehicle = self.publisher.vehicle
        analyser.locate = self.feeds.locate
        analyser.model_size = self.feeds.camera_size(self.publisher.vehicle)
        self.analyser = analyser
        self.pipeline = CameraPipeline(analyser, self.worker, self._actions, lambda rows: None,
                                       on_result=self._result)
        self.worker.start()
        await self.pipeline.start()

    def push(self, frame: Frame) -> None:
        self.worker.push(frame)

    def close(self) -> None:
        self.feeds.closing(self)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        if self.pipeline is not None:
            await self.pipeline.stop()
        else:
            self.worker.stop()

    def _result(self, result: FrameResult) -> None:
        self.analysed += 1
        self.feeds.notify()

    def _actions(self, actions: list[AlertAction], snapshot: bytes | None) -> None:
        location = None if self.analyser is None else self.analyser.location
        self.feeds.submit(apply_actions, actions, snapshot, location)

    def view(self) -> CameraView:
        """The feed as ``GET /api/cameras`` lists it."""
        people = None if self.analyser is None else len(self.analyser._tracks)
        return CameraView.model_validate(
            {**self.worker.health.as_dict(), "kind": "drone", "people": people})

    def live(self) -> tuple[np.ndarray, list[Track]] | None:
        """For the live view: the last analysed picture with its own tracks, or (not
        analysed) the newest picture with none."""
        shown = None if self.analyser is None else self.analyser.shown()
        if shown is not None:
            return shown[0], list(shown[1])
        frame = self.worker.latest
        return None if frame is None else (frame.image, [])


class DroneFeeds:
    """Every live drone feed of a node; uses the cameras' detector when they run."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.analyse_fps = app[CONFIG].section(WebRTCSection).analyse_fps
        self.feeds: dict[str, DroneFeed] = {}
        self._detector: asyncio.Task[Detector] | None = None
        self._loop = asyncio.get_running_loop()
        self.changed = asyncio.Condition()
        self._stopping: set[asyncio.Task[None]] = set()

    def open(self, publisher: WhipPublisherSection) -> DroneFeed:
        feed = DroneFeed(self, publisher)
        self.feeds[publisher.name] = feed
        return feed

    def closing(self, feed: DroneFeed) -> None:
        if self.feeds.get(feed.name) is feed:
            del self.feeds[feed.name]
        task = self._loop.create_task(feed.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def detector(self) -> Detector:
        from fieldkit.analytics.service import CAMERAS

        cameras = self.app.get(CAMERAS)
        runtime = None if cameras is None else cameras.runtime
        if runtime is not None and runtime.detector is not None:
            return runtime.detector
        if self._detector is None:
            config = self.app[CONFIG]
            self._detector = asyncio.create_task(
                asyncio.to_thread(load_detector, config.section(CamerasSection), config.base_dir))
        return await asyncio.shield(self._detector)

    def camera_size(self, vehicle: str | None) -> tuple[int, int]:
        """Pixels of the vehicle's configured camera (what poses are projected with)."""
        drones = self.app[CONFIG].section(DronesSection)
        camera = drones.camera
        for v in drones.vehicles:
            if v.name == vehicle and v.camera is not None:
                camera = v.camera
        return camera.width_px, camera.height_px

    def locate(self, vehicle: str, u: float, v: float, at: float) -> GroundPoint:
        from drone.service import DRONES

        slot = self.app.get(DRONES)
        service = None if slot is None else slot.value
        if service is None:
            raise GeorefError("no drone telemetry in this node process")
        return service.locate(vehicle, u, v, at)

    def notify(self) -> None:
        """From an analysis thread: wake :meth:`wait_for` callers."""
        asyncio.run_coroutine_threadsafe(self._notify(), self._loop)

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate: Any, timeout: float) -> None:
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: predicate(self))

    def submit(self, fn: Any, *args: Any) -> None:
        """From an analysis thread: run ``fn(log, *args)`` on the store thread."""
        asyncio.run_coroutine_threadsafe(self._write(fn, *args), self._loop)

    async def _write(self, fn: Any, *args: Any) -> None:
        worker = self.app[WORKER]
        try:
            await worker.call(fn, worker.log, *args)
        except Exception:
            logger.exception("drone feeds: writing to the log failed")
            return
        self.app[FEED].wake()

    async def stop(self) -> None:
        for feed in list(self.feeds.values()):
            await feed.stop()
        self.feeds.clear()
        for task in list(self._stopping):
            with contextlib.suppress(Exception):
                await task
        if self._detector is not None:
            self._detector.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._detector

