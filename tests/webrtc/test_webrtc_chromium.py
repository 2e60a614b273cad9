"""Interop: headless Debian Chromium (fake camera) publishes from the node's /publish page,
and its frames reach the analytics pipeline. Chromium is driven by chromedriver on
127.0.0.1; no STUN/TURN, host candidates only."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from webrtchelp import TOKENS, whip_server

from drone.video.analytics import DroneFeeds
from drone.video.live import DRONE_FEEDS
from drone.video.whip import install_webrtc
from fieldkit.config import Config
from fieldkit.node import Node

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("chromedriver") is None,
                       reason="needs Debian's chromium and chromium-driver (make system-deps)"),
]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
         "--allow-loopback-in-peer-connection"]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'chromium'}"]:
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver") or "")
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


async def test_chromium_publishes_into_analytics(whip_config: Config, browser: object,
                                                 loopback_ice: None) -> None:
    from selenium.webdriver.common.by import By

    node = Node(whip_config, parts=(install_webrtc,))
    await node.start()
    driver: object = browser
    try:
        assert node._app is not None
        feeds = node._app[DRONE_FEEDS]

        def open_page() -> None:
            driver.get(f"{node.url}/publish")  # type: ignore[attr-defined]
            driver.find_element(By.ID, "token").send_keys(  # type: ignore[attr-defined]
                TOKENS["D1-video"])
            driver.find_element(By.ID, "go").click()  # type: ignore[attr-defined]

        await asyncio.to_thread(open_page)
        await whip_server(node).wait_for(lambda s: bool(s.sessions), 60)

        def analysed(f: DroneFeeds) -> bool:
            feed = f.feeds.get("D1-video")
            return feed is not None and feed.worker.health.frames_analysed >= 1

        await feeds.wait_for(analysed, 120)
        [session] = whip_server(node).sessions.values()
        assert session.codec in ("video/VP8", "video/H264")
        assert session.size is not None
        state = await asyncio.to_thread(
            lambda: driver.find_element(  # type: ignore[attr-defined]
                By.ID, "status").get_attribute("data-state"))
        assert state in ("connecting", "publishing")
        await asyncio.to_thread(
            lambda: driver.find_element(By.ID, "stop").click())  # type: ignore[attr-defined]
        await whip_server(node).wait_for(lambda s: not s.sessions, 30)
    finally:
        await node.stop()

