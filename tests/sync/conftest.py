"""Fixtures for sync tests: in-process nodes (real aiohttp servers on 127.0.0.1, real
SQLite files) of a small fleet, and a helper that runs one session between two of them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from syncfleet import Fleet, make_fleet

from fieldkit.node import Node
from sync.http import ENGINE, HttpTransport
from sync.session import SessionReport, SyncEngine


def engine_of(node: Node) -> SyncEngine:
    assert node._app is not None
    return node._app[ENGINE]


class Running:
    """The fleet's nodes, running; ``session(a, b)`` runs one session a -> b."""

    def __init__(self, fleet: Fleet, nodes: dict[str, Node], http: aiohttp.ClientSession):
        self.fleet = fleet
        self.nodes = nodes
        self.http = http

    def engine(self, name: str) -> SyncEngine:
        return engine_of(self.nodes[name])

    def log(self, name: str):
        return self.nodes[name].worker.log

    async def call(self, name: str, fn, *args, **kwargs):
        return await self.nodes[name].worker.call(fn, *args, **kwargs)

    def transport(self, client: str, server: str) -> HttpTransport:
        engine = self.engine(client)
        return HttpTransport(self.http, self.nodes[server].url, server,
                             engine.trust.identity, engine.trust)

    async def session(self, client: str, server: str) -> SessionReport:
        return await self.engine(client).run_session(self.transport(client, server))

    async def vector(self, name: str) -> dict[str, int]:
        return await self.call(name, self.log(name).version_vector)


StartFleet = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_fleet(tmp_path: Path) -> AsyncIterator[StartFleet]:
    started: list[Node] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(trucks: list[str], **kwargs: object) -> Running:
        fleet = make_fleet(tmp_path, trucks, **kwargs)  # type: ignore[arg-type]
        nodes = {}
        for name in fleet.dirs:
            node = Node(fleet.config(name))
            await node.start()
            started.append(node)
            nodes[name] = node
        http = aiohttp.ClientSession()
        sessions.append(http)
        return Running(fleet, nodes, http)

    yield start
    for http in sessions:
        await http.close()
    for node in started:
        await node.stop()
