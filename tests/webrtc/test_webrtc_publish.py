"""The pilot's publisher: reconnects after a link loss; the CLI never prints the token."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import cv2
import numpy as np
from webrtchelp import TOKENS, Sinks, whip_server

from drone.video.publish import PatternTrack, Publisher, source_factory
from drone.video.whip import install_webrtc
from fieldkit.config import Config
from fieldkit.node import Node

D1 = TOKENS["D1-video"]


async def test_reconnects_after_link_loss(whip_config: Config, loopback_ice: None) -> None:
    first_sinks, second_sinks = Sinks(), Sinks()
    first = Node(whip_config, parts=(lambda app: install_webrtc(app, first_sinks),))
    await first.start()
    publisher = Publisher(f"{first.url}/whip", D1,
                          lambda: (PatternTrack(320, 240, 15), lambda: None), backoff_s=0.2)
    task = asyncio.create_task(publisher.run())
    second = None
    try:
        async with asyncio.timeout(30):
            await publisher.connected.wait()
            await whip_server(first).wait_for(lambda s: bool(s.sessions), 30)
            assert await first_sinks.made["D1-video"][-1].frames.get() is not None
        config = whip_config.model_copy(update={"api": whip_config.api.model_copy(
            update={"port": first.port})})
        await first.stop()  # the truck's end goes away
        second = Node(config, parts=(lambda app: install_webrtc(app, second_sinks),))
        await second.start()
        await whip_server(second).wait_for(lambda s: bool(s.sessions), 30)
        sink = second_sinks.made["D1-video"][-1]
        async with asyncio.timeout(20):
            assert await sink.frames.get() is not None
        assert publisher.connections >= 2
    finally:
        publisher.stop()
        await task
        if second is not None:
            await second.stop()
        await first.stop()


def write_video(path: Path, frames: int = 30) -> Path:
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 15, (320, 240))
    for i in range(frames):
        image = np.full((240, 320, 3), 40, np.uint8)
        cv2.circle(image, (20 + i * 9, 120), 20, (0, 255, 255), -1)
        out.write(image)
    out.release()
    return path


async def test_video_file_source(tmp_path: Path, whip_node: Node, sinks: Sinks) -> None:
    video = write_video(tmp_path / "flight.mp4")
    publisher = Publisher(f"{whip_node.url}/whip", D1, source_factory(str(video)))
    task = asyncio.create_task(publisher.run())
    try:
        await whip_server(whip_node).wait_for(lambda s: bool(s.sessions), 30)
        sink = sinks.made["D1-video"][-1]
        async with asyncio.timeout(20):
            frame = await sink.frames.get()
        assert frame is not None
        assert frame.image.shape == (240, 320, 3)
    finally:
        publisher.stop()
        await task


async def test_cli_publishes_without_printing_the_token(whip_node: Node, sinks: Sinks,
                                                        tmp_path: Path) -> None:
    token_file = tmp_path / "pilot.token"
    token_file.write_text(D1 + "\n")
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("fieldkit")), "drone", "publish", "testsrc",
        "--to", f"{whip_node.url}/whip", "--token-file", str(token_file),
        "--ice-address", "127.0.0.1", "--duration", "6",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await whip_server(whip_node).wait_for(lambda s: bool(s.sessions), 30)
        sink = sinks.made["D1-video"][-1]
        async with asyncio.timeout(20):
            frame = await sink.frames.get()
        assert frame is not None
        assert frame.image.shape == (720, 1280, 3)
    finally:
        out, _ = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, text
    assert "connected: session /whip/sessions/" in text or "connected: session http" in text
    assert D1 not in text


async def test_cli_refused_token_reason(whip_node: Node) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("fieldkit")), "drone", "publish", "testsrc",
        "--to", f"{whip_node.url}/whip", "--token", "wrong-token-0000000000",
        "--ice-address", "127.0.0.1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 1  # a wrong token is not retried
    assert text.endswith("refused the offer: 403: this token is not allowed to publish here\n")
    assert "wrong-token-0000000000" not in text
