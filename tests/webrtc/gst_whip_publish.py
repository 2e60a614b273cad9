"""A WHIP publisher built on GStreamer's webrtcbin (Debian 12: GStreamer 1.22, which has no
WHIP element), run by Debian's own python3 with PyGObject: this is what a pilot's
GStreamer-based tool does. webrtcbin's DTLS certificate is RSA, so the node must answer
a=setup:passive (aiortc as DTLS client offers only ECDSA suites).

    python3 gst_whip_publish.py URL SECONDS    (token in env WHIP_TOKEN; vp8 or h264 in
                                                 env WHIP_CODEC; host candidates on
                                                 env WHIP_ICE_ADDRESSES, comma-separated)

Prints "answered" once the node accepted the offer, "ended" when done.
"""

import os
import sys
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC, Nice  # noqa: E402

ENCODERS = {
    "vp8": "vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay ! "
           "application/x-rtp,media=video,encoding-name=VP8,payload=96",
    "h264": "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! "
            "video/x-h264,profile=constrained-baseline ! rtph264pay config-interval=-1 ! "
            "application/x-rtp,media=video,encoding-name=H264,payload=102",
}


def main() -> None:
    url, seconds = sys.argv[1], float(sys.argv[2])
    token = os.environ["WHIP_TOKEN"]
    codec = os.environ.get("WHIP_CODEC", "vp8")
    Gst.init(None)
    pipe = Gst.parse_launch(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,"
        f"framerate=15/1 ! videoconvert ! {ENCODERS[codec]} ! "
        "webrtcbin name=rtc bundle-policy=max-bundle")
    rtc = pipe.get_by_name("rtc")
    # Kept referenced until the end: PyGObject drops one reference too many on this
    # property's wrapper (GStreamer 1.22), which would free webrtcbin's ICE agent.
    ice = rtc.get_property("ice-agent")
    agent = ice.get_property("agent")
    for ip in filter(None, os.environ.get("WHIP_ICE_ADDRESSES", "").split(",")):
        # libnice leaves loopback out, as aioice does: gather on these addresses only.
        address = Nice.Address.new()
        address.set_from_string(ip)
        agent.add_local_address(address)
    loop = GLib.MainLoop()

    def post(offer_sdp: str) -> None:
        req = urllib.request.Request(url, data=offer_sdp.encode(), method="POST", headers={
            "Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer = resp.read().decode()
        _, msg = GstSdp.SDPMessage.new_from_text(answer)
        desc = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        rtc.emit("set-remote-description", desc, Gst.Promise.new())
        print("answered", flush=True)

    def gathered(element: object, _pspec: object) -> None:
        if rtc.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            GLib.idle_add(lambda: post(rtc.get_property("local-description").sdp.as_text())
                          and False)

    def negotiate(element: object) -> None:
        GLib.idle_add(offer_now)

    def offer_now() -> bool:
        promise = Gst.Promise.new()
        rtc.emit("create-offer", None, promise)
        promise.wait()
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        if offer is None:
            print("no offer:", reply.to_string(), flush=True)
            loop.quit()
            return False
        done = Gst.Promise.new()
        rtc.emit("set-local-description", offer, done)
        done.wait()
        return False

    rtc.connect("on-negotiation-needed", negotiate)
    rtc.connect("notify::ice-gathering-state", gathered)
    pipe.set_state(Gst.State.PLAYING)
    GLib.timeout_add(int(seconds * 1000), loop.quit)
    loop.run()
    pipe.set_state(Gst.State.NULL)
    print("ended", flush=True)
    os._exit(0)  # skip finalizers: see the ICE agent note above


if __name__ == "__main__":
    main()
