"""WebRTC fixtures: real aiortc peers and a real node API on 127.0.0.1, with ICE host
candidates on loopback (aioice leaves 127.0.0.1 out by default)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from webrtchelp import TOKENS, Sinks

from drone.video.config import WebRTCSection, WhipPublisherSection
from drone.video.ice import ice_addresses
from drone.video.whip import install_webrtc
from fieldkit.config import Config
from fieldkit.node import Node


@pytest.fixture
def loopback_ice() -> Iterator[None]:
    with ice_addresses(["127.0.0.1"]):
        yield


@pytest.fixture
def whip_config(config: Config) -> Config:
    publishers = [WhipPublisherSection.model_validate({"name": n, "token": t})
                  for n, t in TOKENS.items()]
    webrtc = WebRTCSection(publishers=publishers, ice_addresses=["127.0.0.1"], timeout_s=2.0)
    return config.model_copy(update={"webrtc": webrtc})


@pytest.fixture
def sinks() -> Sinks:
    return Sinks()


NodeFactory = Callable[..., Node]


@pytest.fixture
async def whip_node(whip_config: Config, sinks: Sinks, loopback_ice: None
                    ) -> AsyncIterator[Node]:
    """A node with only the WHIP part, frames going to :class:`Sinks`."""
    node = Node(whip_config, parts=(lambda app: install_webrtc(app, sinks),))
    await node.start()
    yield node
    await node.stop()
