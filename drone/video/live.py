"""The live view: any live feed, mast camera or drone, with detections drawn.

=================================  ==========================================================
``GET /live``                      the page (asks for the node's API token; ``#token=`` fills
                                   it in without sending it in a URL)
``GET /api/live``                  the feeds that have a picture
``GET /api/live/{feed}.jpg``       the newest picture of a feed, tracked people boxed
=================================  ==========================================================

Both ``/api/live`` routes always need ``Authorization: Bearer <api token>`` (the node's
``api.token_file``), even when the API is bound to loopback: video of people is never
served unauthenticated. The page polls JPEGs (about 10 per second) rather than holding a
WebRTC session per viewer: HQ's link may be thin, and JPEG needs no codec on the viewer.
"""

from __future__ import annotations

import asyncio
import hmac
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from fieldkit.analytics.config import CamerasSection
from fieldkit.appkeys import CONFIG
from fieldkit.views import respond
from fieldkit.views.parts import FeedRef, LiveFeedsView

if TYPE_CHECKING:  # numpy and cv2 load with the first drone feed
    from drone.video.analytics import DroneFeeds

_PAGE = Path(__file__).with_name("live.html")

DRONE_FEEDS: web.AppKey[DroneFeeds] = web.AppKey("drone_feeds")
"""Set by the WHIP part when a publisher's frames go to analytics (the node's default)."""


def install_live(app: web.Application) -> None:
    app.router.add_get("/live", live_page)
    app.router.add_get("/api/live", list_feeds)
    app.router.add_get("/api/live/{feed}.jpg", feed_picture)


def _check(request: web.Request) -> web.Response | None:
    config = request.app[CONFIG]
    path = config.path(config.api.token_file)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError:
        return web.json_response({"error": "the live view needs api.token_file, which "
                                  "cannot be read"}, status=503)
    given = request.headers.get("Authorization", "")
    if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return web.json_response({"error": "missing or wrong bearer token"}, status=401)
    return None


def _cameras(app: web.Application) -> dict[str, object]:
    from fieldkit.analytics.service import CAMERAS

    cameras = app.get(CAMERAS)
    runtime = None if cameras is None else cameras.runtime
    return {} if runtime is None else dict(runtime.pipelines)


async def live_page(request: web.Request) -> web.Response:
    return web.Response(text=_PAGE.read_text(encoding="utf-8"), content_type="text/html")


async def list_feeds(request: web.Request) -> web.Response:
    refused = _check(request)
    if refused is not None:
        return refused
    feeds = request.app.get(DRONE_FEEDS)
    drones = [] if feeds is None else sorted(feeds.feeds)
    return respond(LiveFeedsView(feeds=[FeedRef(name=n, kind="camera")
                                        for n in sorted(_cameras(request.app))]
                                 + [FeedRef(name=n, kind="drone") for n in drones]))


async def feed_picture(request: web.Request) -> web.Response:
    refused = _check(request)
    if refused is not None:
        return refused
    name = request.match_info["feed"]
    feeds = request.app.get(DRONE_FEEDS)
    drone = None if feeds is None else feeds.feeds.get(name)
    jpeg: bytes | None = None
    if drone is not None:
        live = drone.live()
        if live is not None:
            from fieldkit.analytics.picture import draw_snapshot  # with the feed: cv2 loaded

            image, tracks = live
            jpeg = await asyncio.to_thread(draw_snapshot, image, [], tracks, [],
                                           blur=request.app[CONFIG].section(CamerasSection).blur_faces)
    else:
        pipeline = _cameras(request.app).get(name)
        if pipeline is None:
            return web.json_response({"error": f"no live feed {name!r}"}, status=404)
        jpeg = await asyncio.to_thread(pipeline.analyser.last_snapshot)  # type: ignore[attr-defined]
    if jpeg is None:
        return web.json_response({"error": f"feed {name!r} has no picture yet"}, status=404)
    return web.Response(body=jpeg, content_type="image/jpeg",
                        headers={"Cache-Control": "no-store"})


