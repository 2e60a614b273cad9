"""Interop with GStreamer's webrtcbin (Debian 12's GStreamer 1.22), whose DTLS
certificate is RSA: the node answers a=setup:passive so aiortc is the DTLS server. The
publisher (gst_whip_publish.py) runs under Debian's python3 with PyGObject."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
from webrtchelp import TOKENS, Sinks, whip_server

from fieldkit.node import Node

SCRIPT = Path(__file__).with_name("gst_whip_publish.py")
SYSTEM_PYTHON = "/usr/bin/python3"
CHECK = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstWebRTC', '1.0');"
         "gi.require_version('Nice', '0.1'); from gi.repository import Gst; Gst.init(None);"
         "assert all(Gst.ElementFactory.find(e) for e in "
         "('webrtcbin', 'vp8enc', 'x264enc', 'nicesrc'))")


def _gstreamer() -> bool:
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", CHECK], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not _gstreamer(), reason="needs Debian's GStreamer 1.22, python3-gi and gir1.2-nice-0.1 "
    "(make system-deps)")]


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_webrtcbin_publisher(whip_node: Node, sinks: Sinks, codec: str) -> None:
    env = {**os.environ, "WHIP_TOKEN": TOKENS["D1-video"], "WHIP_CODEC": codec,
           "WHIP_ICE_ADDRESSES": "127.0.0.1"}
    proc = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON, str(SCRIPT), f"{whip_node.url}/whip", "60", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        await whip_server(whip_node).wait_for(lambda s: bool(s.sessions), 30)
        sink = sinks.made["D1-video"][-1]
        async with asyncio.timeout(30):
            frame = await sink.frames.get()
        assert frame is not None
        assert frame.image.shape == (240, 320, 3)
        [session] = whip_server(whip_node).sessions.values()
        assert session.codec == f"video/{codec.upper()}"
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
