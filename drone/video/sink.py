"""Where received video goes: a :class:`FrameSink` takes each decoded frame of one WHIP
session (a :class:`fieldkit.analytics.ingest.Frame`, the dataclass camera ingest makes),
and is closed when the session ends.

The node's sink feeds the analytics pipeline (:mod:`drone.video.analytics`); tests and
the bench use :class:`QueueSink`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import numpy as np

from fieldkit.analytics.ingest import Frame


class FrameSink(Protocol):
    """Receives one session's frames (on the event loop; must not block)."""

    def push(self, frame: Frame) -> None: ...

    def close(self) -> None:
        """The session ended: no more frames."""


class QueueSink:
    """Keeps frames in an unbounded :class:`asyncio.Queue`; ``None`` ends the stream.

    :param keep_images: False drops the pixels once counted (long runs).
    """

    def __init__(self, keep_images: bool = True) -> None:
        self.frames: asyncio.Queue[Frame | None] = asyncio.Queue()
        self.count = 0
        self.closed = asyncio.Event()
        self.keep_images = keep_images

    def push(self, frame: Frame) -> None:
        self.count += 1
        self.frames.put_nowait(frame if self.keep_images else
                               Frame(frame.camera, frame.index, frame.t, frame.wall_ms,
                                     np.empty((0, 0, 3), np.uint8)))

    def close(self) -> None:
        self.closed.set()
        self.frames.put_nowait(None)


def make_frame(feed: str, index: int, image: np.ndarray) -> Frame:
    """A pipeline frame stamped now (monotonic and wall clock)."""
    return Frame(feed, index, time.monotonic(), int(time.time() * 1000), image)
