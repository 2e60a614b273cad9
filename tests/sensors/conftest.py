"""Real Mosquitto brokers on 127.0.0.1 (anonymous; password + TLS with a CA made here),
and nodes whose sensors part subscribes to them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sensorhelp import PASSWORD, USER, make_tls, with_sensors

from fieldkit.config import Config
from fieldkit.node import Node
from sensors.broker import Mosquitto


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """An anonymous Mosquitto on a free loopback port, for the whole session."""
    running = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """Mosquitto with a password file and TLS only (a CA of our own)."""
    directory = tmp_path_factory.mktemp("mosquitto-tls")
    running = Mosquitto(directory, users={USER: PASSWORD}, tls=make_tls(directory / "pki"))
    running.start()
    yield running
    running.stop()


@pytest.fixture
def sensor_node(config: Config) -> Callable[[dict[str, Any]], Any]:
    """``async with sensor_node(section) as node``: a running T01 with that [sensors]."""
    @contextlib.asynccontextmanager
    async def run(section: dict[str, Any]) -> AsyncIterator[Node]:
        node = Node(with_sensors(config, section))
        await node.start()
        try:
            yield node
        finally:
            await node.stop()

    return run
