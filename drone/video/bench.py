"""`fieldkit bench webrtc`: glass-to-glass latency of drone video over WHIP on loopback.

A 1280x720 picture is made at 30 fps with its index drawn into it as black and white
blocks (:class:`StampedTrack`); an aiortc publisher sends it by WHIP to the node's
endpoint on 127.0.0.1, which decodes it and pushes it into the analytics queue (a
:class:`~drone.video.analytics.FeedWorker`). Latency is from the moment the frame is made
to the moment it is in that queue; frames made in the measured window that never arrive
are dropped. The floor is the same frames handed over in-process: made, converted to the
pipeline's BGR array and pushed into the same kind of queue, no encoding nor network.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
from aiohttp import web
from av import VideoFrame

from drone.video.analytics import FeedWorker
from drone.video.config import WebRTCSection, WhipPublisherSection
from drone.video.ice import ice_addresses
from drone.video.publish import PatternTrack, Publisher
from drone.video.sink import make_frame
from drone.video.whip import install_webrtc
from fieldkit.analytics.config import CameraSection
from fieldkit.analytics.ingest import Frame
from fieldkit.appkeys import CONFIG
from fieldkit.config import NodeSection, config_model

BITS = 16
_TOKEN = "bench-token-" + "0" * 16


class StampedTrack(PatternTrack):
    """The test pattern with its frame index drawn in (bits, then inverted bits)."""

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        super().__init__(width, height, fps)
        self.made: dict[int, float] = {}
        self.block = width // BITS

    def picture(self, index: int) -> np.ndarray:
        image = super().picture(index)
        for bit in range(BITS):
            on = (index >> bit) & 1
            x = bit * self.block
            image[0:40, x:x + self.block] = 255 if on else 0
            image[40:80, x:x + self.block] = 0 if on else 255
        return image

    def make(self, index: int) -> VideoFrame:
        self.made[index] = time.perf_counter()
        return super().make(index)


def read_stamp(image: np.ndarray) -> int | None:
    """The index drawn by :class:`StampedTrack`, None when unreadable."""
    block = image.shape[1] // BITS
    grey = image[:80].mean(axis=2)
    value = 0
    for bit in range(BITS):
        x = bit * block + block // 4
        top = grey[10:30, x:x + block // 2].mean() > 128
        bottom = grey[50:70, x:x + block // 2].mean() > 128
        if top == bottom:
            return None
        value |= int(top) << bit
    return value


class _Arrivals:
    """The endpoint's sink: frames go into a feed worker's queue, arrival times noted."""

    def __init__(self) -> None:
        self.worker = FeedWorker(CameraSection(name="bench", source="webrtc"))
        self.arrived: dict[int, float] = {}
        self.unreadable = 0
        self.event = asyncio.Event()

    def push(self, frame: Frame) -> None:
        self.worker.push(frame)
        now = time.perf_counter()
        index = read_stamp(frame.image)
        if index is None:
            self.unreadable += 1
            return
        self.arrived.setdefault(index, now)
        self.event.set()

    def close(self) -> None:
        self.worker.stop()


@dataclass
class WebRTCBenchResult:
    width: int
    height: int
    fps: float
    codec: str
    frames: int
    seconds: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    dropped: int
    unreadable: int
    floor_p50_ms: float
    floor_p95_ms: float

    @property
    def ratio(self) -> float:
        return self.p95_ms / self.floor_p95_ms if self.floor_p95_ms > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio_p95": round(self.ratio, 1)}

    def table(self) -> str:
        met = "met" if self.p95_ms <= 150 else "MISSED"
        drops = "none" if self.dropped == 0 else f"{self.dropped}"
        return "\n".join([
            f"webrtc bench: {self.width}x{self.height} at {self.fps:g} fps, {self.codec}, "
            f"{self.frames} frames over {self.seconds:.1f} s on loopback",
            f"  WHIP (aiortc -> node queue)  p50 {self.p50_ms:7.1f} ms  p95 {self.p95_ms:7.1f} ms"
            f"  max {self.max_ms:7.1f} ms  dropped {self.dropped} "
            f"({100 * self.dropped / max(1, self.frames):.1f}%)",
            f"  in-process handover (floor)  p50 {self.floor_p50_ms:7.2f} ms  "
            f"p95 {self.floor_p95_ms:7.2f} ms",
            f"  ratio p95 WHIP / in-process: {self.ratio:.0f}x; target p95 <= 150 ms: {met}; "
            f"drops at steady state: {drops}",
        ])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _whip_run(seconds: float, warmup_s: float, codec: str, track: StampedTrack,
                    arrivals: _Arrivals) -> tuple[list[float], int, int]:
    pub = WhipPublisherSection.model_validate({"name": "bench", "token": _TOKEN})
    config = config_model().model_validate({
        "node": NodeSection(name="bench", role="truck"), "base_dir": Path("."),
        "webrtc": WebRTCSection(publishers=[pub], ice_addresses=["127.0.0.1"])})
    app = web.Application()
    app[CONFIG] = config
    install_webrtc(app, lambda publisher: arrivals)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    publisher = Publisher(f"http://127.0.0.1:{port}/whip", _TOKEN, lambda: (track, lambda: None),
                          codec=codec)
    task = asyncio.create_task(publisher.run())
    try:
        async with asyncio.timeout(30):
            while not arrivals.arrived:
                arrivals.event.clear()
                await arrivals.event.wait()
        first = track.index + int(warmup_s * track.fps)
        last = first + int(seconds * track.fps)
        async with asyncio.timeout(seconds + warmup_s + 30):
            while track.index < last:
                await asyncio.sleep(0.1)  # the bench's own clock, not a synchronisation
        with contextlib.suppress(TimeoutError):  # let the last frames land
            async with asyncio.timeout(2):
                while last - 1 not in arrivals.arrived:
                    arrivals.event.clear()
                    await arrivals.event.wait()
    finally:
        publisher.stop()
        await task
        await runner.cleanup()
    window = range(first, last)
    latencies = [(arrivals.arrived[i] - track.made[i]) * 1000 for i in window
                 if i in arrivals.arrived]
    dropped = sum(1 for i in window if i not in arrivals.arrived)
    return latencies, dropped, len(window)


def _floor(frames: int, width: int, height: int) -> list[float]:
    track = StampedTrack(width, height)
    worker = FeedWorker(CameraSection(name="floor", source="webrtc"))
    out = []
    for i in range(frames):
        made = track.make(i)
        worker.push(make_frame("floor", i, made.to_ndarray(format="bgr24")))
        t0 = track.made[i]
        out.append((time.perf_counter() - t0) * 1000)
    return out


def run_webrtc_bench(seconds: float = 10.0, warmup_s: float = 3.0, codec: str = "vp8",
                     width: int = 1280, height: int = 720, fps: float = 30.0
                     ) -> WebRTCBenchResult:
    track = StampedTrack(width, height, fps)
    arrivals = _Arrivals()
    mime = f"video/{codec.upper()}"

    async def main() -> tuple[list[float], int, int]:
        with ice_addresses(["127.0.0.1"]):
            return await _whip_run(seconds, warmup_s, mime, track, arrivals)

    latencies, dropped, frames = asyncio.run(main())
    if not latencies:
        raise RuntimeError("no frame arrived: the WHIP session did not stream")
    floor = _floor(frames, width, height)
    return WebRTCBenchResult(
        width, height, fps, mime, frames, seconds,
        round(statistics.median(latencies), 1), round(_pct(latencies, 0.95), 1),
        round(max(latencies), 1), dropped, arrivals.unreadable,
        round(statistics.median(floor), 2), round(_pct(floor, 0.95), 2))


@click.command("webrtc")
@click.option("--seconds", type=click.FloatRange(1, 600), default=10.0, show_default=True,
              help="Measured seconds (after a warm-up).")
@click.option("--warmup", type=click.FloatRange(0, 60), default=3.0, show_default=True)
@click.option("--codec", type=click.Choice(["vp8", "h264"]), default="vp8", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable figures.")
def bench_webrtc(seconds: float, warmup: float, codec: str, as_json: bool) -> None:
    """Drone video glass-to-glass latency over WHIP against an in-process handover."""
    import json

    try:
        result = run_webrtc_bench(seconds=seconds, warmup_s=warmup, codec=codec)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else result.table())
