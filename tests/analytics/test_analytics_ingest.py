"""Ingest for real: an MJPEG server on 127.0.0.1 (dies, returns), video files (looped,
once, corrupt), and the picture checks behind camera-fault incidents."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import camera_for, make_scene, small_scene

from fieldkit.analytics.config import CameraSection, CamerasSection, RulesSection
from fieldkit.analytics.detector import Detector
from fieldkit.analytics.ingest import CameraState, CameraWorker, Frame, PictureCheck
from fieldkit.analytics.pipeline import Analyser
from fieldkit.analytics.rules import Action, apply_actions
from fieldkit.analytics.scene import Sprite
from fieldkit.log import IncidentLog

# The same snapshot bytes each time: one content-addressed attachment.
EXPECTED_ATTACHMENTS = 1


class MjpegServer:
    """multipart/x-mixed-replace JPEG frames, as IP cameras serve them; ``frames`` per
    connection, then the connection closes (the camera "dies"); ``stop()`` takes the
    port away, ``start()`` brings it back on the same port."""

    def __init__(self, jpegs: list[bytes], frames: int = 30, port: int = 0) -> None:
        self.jpegs, self.frames, self.port = jpegs, frames, port
        self.connections = 0
        self._server: ThreadingHTTPServer | None = None
        self._dead = threading.Event()

    def start(self) -> None:
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server_self.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    for k in range(server_self.frames):
                        if server_self._dead.is_set():
                            return  # the camera died mid-stream: the connection drops
                        jpg = server_self.jpegs[k % len(server_self.jpegs)]
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         b"Content-Length: %d\r\n\r\n" % len(jpg) + jpg
                                         + b"\r\n")
                except OSError:
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._dead.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video.mjpg"


@pytest.fixture(scope="module")
def jpegs(sprites: list[Sprite]) -> list[bytes]:
    scene = make_scene(small_scene(0.2), sprites)
    return [cv2.imencode(".jpg", scene.next_frame().image)[1].tobytes() for _ in range(5)]


@pytest.fixture
def mjpeg(jpegs: list[bytes]) -> Iterator[MjpegServer]:
    server = MjpegServer(jpegs)
    server.start()
    yield server
    server.stop()


def _camera(source: str, **extra: object) -> CameraSection:
    return CameraSection.model_validate({"name": "cam1", "source": source, **extra})


def _wait_state(worker: CameraWorker, *states: CameraState) -> CameraState:
    with worker.state_changed:
        assert worker.state_changed.wait_for(lambda: worker.health.state in states, 30), \
            f"camera stayed {worker.health.state}"
    return worker.health.state


def _frames(worker: CameraWorker, n: int) -> list[Frame]:
    got = []
    while len(got) < n:
        frame = worker.frames.get(timeout=30)
        assert frame is not None, "stream ended early"
        got.append(frame)
    return got


def test_mjpeg_over_http_is_ingested_and_analysed(mjpeg: MjpegServer, detector: Detector
                                                  ) -> None:
    worker = CameraWorker(_camera(mjpeg.url), backoff_s=0.05)
    worker.start()
    try:
        frames = _frames(worker, 3)
        assert frames[0].image.shape == (360, 640, 3)
        assert [f.index for f in frames] == sorted(f.index for f in frames)
        assert worker.health.state is CameraState.STREAMING
        assert worker.health.frames_in >= 3
        assert worker.health.last_frame_ms is not None
        people = detector.detect(frames[-1].image)
        assert len(people) >= 3  # real people, through HTTP, JPEG and OpenCV
    finally:
        worker.stop()
        worker.stop()  # safe twice
    assert worker.health.state is CameraState.STOPPED


def test_a_camera_that_dies_comes_back(jpegs: list[bytes]) -> None:
    server = MjpegServer(jpegs, frames=10_000)
    server.start()
    worker = CameraWorker(_camera(server.url), backoff_s=0.05, backoff_max_s=0.2)
    worker.start()
    try:
        _frames(worker, 2)
        port = server.port
        server.stop()  # the camera dies: connection closed, port refuses
        assert _wait_state(worker, CameraState.RECONNECTING) is CameraState.RECONNECTING
        assert worker.health.reconnects >= 1
        revived = MjpegServer(jpegs, frames=10_000, port=port)
        revived.start()
        try:
            assert _wait_state(worker, CameraState.STREAMING) is CameraState.STREAMING
            while not worker.frames.empty():
                worker.frames.get_nowait()
            assert _frames(worker, 2)
            assert revived.connections >= 1
        finally:
            revived.stop()
    finally:
        worker.stop()


def _video(path: Path, jpegs: list[bytes], n: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (640, 360))
    for k in range(n):
        writer.write(cv2.imdecode(np.frombuffer(jpegs[k % len(jpegs)], np.uint8),
                                  cv2.IMREAD_COLOR))
    writer.release()
    return path


def test_a_file_played_once_ends(tmp_path: Path, jpegs: list[bytes]) -> None:
    path = _video(tmp_path / "walk.avi", jpegs, 6)
    worker = CameraWorker(_camera(str(path), loop=False, realtime=False), queue_size=100)
    worker.start()
    got = []
    while (frame := worker.frames.get(timeout=30)) is not None:
        got.append(frame)
    assert len(got) == 6
    assert worker.health.state is CameraState.ENDED
    worker.stop()


def test_a_looped_file_replays(tmp_path: Path, jpegs: list[bytes]) -> None:
    path = _video(tmp_path / "walk.avi", jpegs, 3)
    worker = CameraWorker(_camera(str(path), loop=True, realtime=False), queue_size=100)
    worker.start()
    try:
        assert len(_frames(worker, 8)) == 8  # more than the file holds
    finally:
        worker.stop()


def test_a_corrupt_video_file_ends_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    worker = CameraWorker(_camera(str(path), loop=True, realtime=False), backoff_s=0.01)
    worker.start()
    assert worker.frames.get(timeout=30) is None
    assert worker.health.state is CameraState.ENDED
    assert worker.health.frames_in == 0
    assert "broken.mp4" in worker.health.last_error
    worker.stop()


def test_a_missing_file_keeps_retrying_with_backoff(tmp_path: Path) -> None:
    worker = CameraWorker(_camera(str(tmp_path / "none.mp4")), backoff_s=0.01, backoff_max_s=0.02)
    worker.start()
    try:
        _wait_state(worker, CameraState.RECONNECTING)
        assert worker.health.last_error == f"no such file: {tmp_path / 'none.mp4'}"
    finally:
        worker.stop()


def test_picture_checks(sprites: list[Sprite]) -> None:
    image = make_scene(small_scene(0.2), sprites).next_frame().image
    check = PictureCheck()
    assert check(image, 0.0) == (None, 0.0)
    assert check(image, 4.0) == (None, 4.0)  # unchanged for 4 s: frozen so far
    assert check(np.zeros_like(image), 5.0)[0] == "covered"
    assert check(cv2.GaussianBlur(image, (31, 31), 12), 6.0)[0] == "blurred"
    assert check(image, 7.0) == (None, 0.0)


def test_dead_frozen_and_covered_cameras_raise_one_fault(detector: Detector,
                                                         sprites: list[Sprite],
                                                         log: IncidentLog) -> None:
    settings = small_scene(0.2)
    camera = camera_for(settings, zones=False, dead_s=3.0, frozen_s=3.0)
    cameras = CamerasSection(rules=RulesSection(dwell_s=1.0, clear_s=2.0))
    analyser = Analyser(camera, cameras, detector)
    scene = make_scene(settings, sprites)
    image = scene.next_frame().image
    actions = []

    def step(t: float, picture: np.ndarray | None) -> None:
        if picture is None:
            got = analyser.tick(t)
        else:
            got = analyser.process(Frame("cam1", int(t * 10), t, 0, picture)).actions
        actions.extend(got)
        apply_actions(log, got, b"\xff\xd8jpeg\xff\xd9")

    step(0.0, image)
    for t in (1.0, 2.0, 3.5, 4.0):  # no frames: dead after 3 s
        step(t, None)
    step(5.0, scene.next_frame().image)  # back
    for t in (6.0, 7.0, 8.0):
        step(t, scene.next_frame().image)
    for t in (9.0, 10.0, 10.5, 11.0):  # the lens is covered
        step(t, np.zeros_like(image))
    for t in (12.0, 13.0, 14.0, 15.0):
        step(t, scene.next_frame().image)
    assert [(a.action, a.condition.title) for a in actions] == [
        (Action.RAISE, "Camera cam1 dead"),
        (Action.CLEAR, "Camera cam1 dead"),
        (Action.RAISE, "Camera cam1 covered"),
        (Action.CLEAR, "Camera cam1 covered"),
    ]
    (incident,) = log.incidents()  # one camera_fault incident, re-used while still open
    assert incident.kind == "camera_fault"
    assert incident.title == "Camera cam1 covered"
    assert len(incident.attachments) == EXPECTED_ATTACHMENTS


@pytest.mark.slow
async def test_pipeline_threads_raise_and_clear_a_dead_camera(jpegs: list[bytes],
                                                              detector: Detector,
                                                              log: IncidentLog) -> None:
    """Real threads and a real MJPEG server: the camera dies (fault raised once), comes
    back (fault cleared once)."""
    import asyncio

    from fieldkit.analytics.pipeline import CameraPipeline

    server = MjpegServer(jpegs, frames=1_000_000)
    server.start()
    camera = _camera(server.url, dead_s=1.0, analyse_fps=2.0)
    cameras = CamerasSection(rules=RulesSection(dwell_s=0.0, clear_s=0.0))
    loop = asyncio.get_running_loop()
    seen: asyncio.Queue[Action] = asyncio.Queue()

    def sink(actions: list, snapshot: bytes | None) -> None:
        apply_actions(log, actions, snapshot)
        for a in actions:
            loop.call_soon_threadsafe(seen.put_nowait, a.action)

    worker = CameraWorker(camera, backoff_s=0.05, backoff_max_s=0.2)
    pipeline = CameraPipeline(Analyser(camera, cameras, detector), worker, sink,
                              lambda rows: None)
    await pipeline.start()
    revived = None
    try:
        with worker.state_changed:
            assert worker.state_changed.wait_for(
                lambda: worker.health.state is CameraState.STREAMING, 30)
        port = server.port
        server.stop()
        assert await asyncio.wait_for(seen.get(), 60) is Action.RAISE
        revived = MjpegServer(jpegs, frames=1_000_000, port=port)
        revived.start()
        assert await asyncio.wait_for(seen.get(), 60) is Action.CLEAR
    finally:
        await pipeline.stop()
        await pipeline.stop()
        if revived is not None:
            revived.stop()
    (incident,) = log.incidents()
    assert (incident.kind, incident.title) == ("camera_fault", "Camera cam1 dead")
    assert [a.mime for a in incident.attachments] == ["image/jpeg"]  # the last picture
    assert incident.notes[-1].text.startswith("Cleared for 0 s: the camera delivers usable")
    assert worker.health.reconnects >= 1
