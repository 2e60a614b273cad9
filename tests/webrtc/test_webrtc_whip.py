"""The WHIP endpoint with real aiortc publishers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from av import VideoFrame
from webrtchelp import TOKENS, Sinks, make_offer, whip_server

from drone.video.publish import PatternTrack, Publisher
from drone.video.sink import QueueSink
from fieldkit.node import Node

D1, D2 = TOKENS["D1-video"], TOKENS["D2-video"]


def small_source() -> tuple[MediaStreamTrack, object]:
    return PatternTrack(320, 240, 15), lambda: None


async def first_frame(sink: QueueSink, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        frame = await sink.frames.get()
    assert frame is not None
    assert frame.image.shape == (240, 320, 3)


async def sink_for(sinks: Sinks, node: Node, feed: str) -> QueueSink:
    await whip_server(node).wait_for(lambda s: any(x.feed == feed for x in s.sessions.values()),
                                     20)
    return sinks.made[feed][-1]


async def test_publish_receive_and_delete(whip_node: Node, sinks: Sinks,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    publisher = Publisher(f"{whip_node.url}/whip", D1, small_source)  # type: ignore[arg-type]
    task = asyncio.create_task(publisher.run())
    sink = await sink_for(sinks, whip_node, "D1-video")
    await first_frame(sink)
    async with aiohttp.ClientSession() as http, http.get(f"{whip_node.url}/api/webrtc") as resp:
        listed = await resp.json()
    [session] = listed["sessions"]
    assert session["feed"] == "D1-video"
    assert session["state"] == "streaming"
    assert session["codec"] == "video/VP8"
    assert D1 not in str(listed)
    publisher.stop()  # DELETEs the session
    await task
    await whip_server(whip_node).wait_for(lambda s: not s.sessions, 10)
    assert sink.closed.is_set()
    assert "D1-video" in caplog.text
    assert D1 not in caplog.text  # neither the node nor the publisher logs the token


async def test_answer_takes_dtls_server_role(whip_node: Node) -> None:
    pc, offer = await make_offer()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{whip_node.url}/whip", data=offer, headers={
                    "Content-Type": "application/sdp", "Authorization": f"Bearer {D1}"}) as resp:
                assert resp.status == 201
                assert resp.content_type == "application/sdp"
                location = resp.headers["Location"]
                answer = await resp.text()
            assert location.startswith("/whip/sessions/")
            assert "a=setup:passive" in answer
            assert "a=candidate:" in answer
            assert "127.0.0.1" in answer
            async with http.delete(f"{whip_node.url}{location}",
                                   headers={"Authorization": f"Bearer {D1}"}) as resp:
                assert resp.status == 200
            async with http.delete(f"{whip_node.url}{location}",
                                   headers={"Authorization": f"Bearer {D1}"}) as resp:
                assert resp.status == 404
    finally:
        await pc.close()


@pytest.mark.parametrize(("headers", "status", "reason"), [
    ({}, 401, "missing Authorization: Bearer <token>"),
    ({"Authorization": "Basic abc"}, 401, "the Authorization header must be 'Bearer <token>'"),
    ({"Authorization": "Bearer not-a-pilot-token-000"}, 403,
     "this token is not allowed to publish here"),
])
async def test_bad_token_refused(whip_node: Node, headers: dict[str, str], status: int,
                                 reason: str) -> None:
    pc, offer = await make_offer()
    try:
        async with aiohttp.ClientSession() as http, http.post(
                f"{whip_node.url}/whip", data=offer,
                headers={"Content-Type": "application/sdp", **headers}) as resp:
            assert resp.status == status
            body = await resp.json()
        assert body == {"error": reason}
        assert not whip_server(whip_node).sessions
    finally:
        await pc.close()


@pytest.mark.parametrize(("body", "content_type", "status", "reason"), [
    ("hello", "application/sdp", 400, "the offer has no video section (m=video)"),
    ("v=0\r\nm=video x\r\n", "application/sdp", 400, "the offer is not valid SDP"),
    ("v=0", "text/plain", 415, "the offer must be application/sdp, not text/plain"),
])
async def test_bad_offer_refused(whip_node: Node, sinks: Sinks, body: str, content_type: str,
                                 status: int, reason: str) -> None:
    async with aiohttp.ClientSession() as http, http.post(
            f"{whip_node.url}/whip", data=body,
            headers={"Content-Type": content_type, "Authorization": f"Bearer {D1}"}) as resp:
        assert resp.status == status
        error = (await resp.json())["error"]
    assert error.startswith(reason)
    assert D1 not in error
    assert not whip_server(whip_node).sessions
    assert not sinks.made  # a refused offer starts nothing downstream


async def test_offer_without_known_codec_refused(whip_node: Node) -> None:
    pc, offer = await make_offer()
    await pc.close()
    only_av1 = "\r\n".join(line for line in offer.split("\r\n")
                           if "VP8" not in line and "H264" not in line and "rtx" not in line)
    only_av1 = only_av1.replace("m=video 9 UDP/TLS/RTP/SAVPF", "m=video 9 UDP/TLS/RTP/SAVPF 45 ")
    only_av1 += "a=rtpmap:45 AV1/90000\r\n"
    async with aiohttp.ClientSession() as http, http.post(
            f"{whip_node.url}/whip", data=only_av1,
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {D1}"}) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert "codec" in error or "not valid SDP" in error


async def test_two_publishers_at_once_and_h264(whip_node: Node, sinks: Sinks) -> None:
    one = Publisher(f"{whip_node.url}/whip", D1, small_source)  # type: ignore[arg-type]
    two = Publisher(f"{whip_node.url}/whip", D2, small_source,  # type: ignore[arg-type]
                    codec="video/H264")
    tasks = [asyncio.create_task(p.run()) for p in (one, two)]
    try:
        await first_frame(await sink_for(sinks, whip_node, "D1-video"))
        await first_frame(await sink_for(sinks, whip_node, "D2-video"))
        codecs = {s.feed: s.codec for s in whip_server(whip_node).sessions.values()}
        assert codecs == {"D1-video": "video/VP8", "D2-video": "video/H264"}
    finally:
        for p in (one, two):
            p.stop()
        await asyncio.gather(*tasks)


class Stalls(MediaStreamTrack):
    """Sends ``frames`` frames, then nothing (a publisher whose app froze or whose link
    went dark without closing anything)."""

    kind = "video"

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.inner = PatternTrack(320, 240, 15)
        self.left = frames
        self.stalled = asyncio.Event()

    async def recv(self) -> VideoFrame:
        if self.left <= 0:
            self.stalled.set()
            await asyncio.Event().wait()  # never again
        self.left -= 1
        return await self.inner.recv()


async def test_vanished_publisher_cleaned_up(whip_node: Node, sinks: Sinks) -> None:
    pc = RTCPeerConnection()
    pc.addTransceiver(Stalls(10), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    try:
        async with aiohttp.ClientSession() as http, http.post(
                f"{whip_node.url}/whip", data=pc.localDescription.sdp, headers={
                    "Content-Type": "application/sdp", "Authorization": f"Bearer {D1}"}) as resp:
            assert resp.status == 201
            answer = await resp.text()
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        sink = await sink_for(sinks, whip_node, "D1-video")
        await first_frame(sink)
        [session] = whip_server(whip_node).sessions.values()
        await whip_server(whip_node).wait_for(lambda s: not s.sessions, 20)
        assert "publisher vanished" in session.close_reason
        assert sink.closed.is_set()
    finally:
        await pc.close()


async def test_patch_trickle_and_ice_restart(whip_node: Node) -> None:
    pc, offer = await make_offer()
    auth = {"Authorization": f"Bearer {D1}"}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{whip_node.url}/whip", data=offer,
                                 headers={"Content-Type": "application/sdp", **auth}) as resp:
                location = f"{whip_node.url}{resp.headers['Location']}"
            ufrag = next(x[12:] for x in offer.split("\r\n") if x.startswith("a=ice-ufrag:"))
            pwd = next(x[10:] for x in offer.split("\r\n") if x.startswith("a=ice-pwd:"))
            frag = (f"a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\n"
                    "a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n"
                    "a=end-of-candidates\r\n")
            frag_type = {"Content-Type": "application/trickle-ice-sdpfrag"}
            async with http.patch(location, data=frag, headers={**frag_type, **auth}) as resp:
                assert resp.status == 204
            restart = frag.replace(ufrag, "newufrag").replace(pwd, "newpasswordnewpassword1")
            async with http.patch(location, data=restart, headers={**frag_type, **auth}) as resp:
                assert resp.status == 405
                assert (await resp.json())["error"].startswith("ICE restart is not supported")
            bad = "a=candidate:garbage\r\n"
            async with http.patch(location, data=bad, headers={**frag_type, **auth}) as resp:
                assert resp.status == 400
            other = {"Authorization": f"Bearer {D2}"}
            async with http.patch(location, data=frag, headers={**frag_type, **other}) as resp:
                assert resp.status == 404  # another pilot cannot touch this session
            async with http.patch(location, data=frag, headers=auth) as resp:
                assert resp.status == 415
    finally:
        await pc.close()


async def test_publish_page_served(whip_node: Node) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{whip_node.url}/publish") as resp:
        assert resp.status == 200
        page = await resp.text()
    assert "getUserMedia" in page
    assert '"/whip"' in page
