"""Shared fixtures: real node directories, real SQLite files, real servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from fieldkit.config import Config, load_config
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.node import Node
from fieldkit.nodedir import init_node_dir
from fieldkit.pgserver import TempPostgres, find_bindir
from fieldkit.store import Store


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    """An initialised truck node directory (T01)."""
    path = tmp_path / "T01"
    init_node_dir(path, role="truck", name="T01")
    return path


@pytest.fixture
def config(node_dir: Path) -> Config:
    """The T01 config with the API on a free port."""
    loaded = load_config(node_dir)
    return loaded.model_copy(update={"api": loaded.api.model_copy(update={"port": 0})})


@pytest.fixture
async def node(config: Config) -> AsyncIterator[Node]:
    """A running T01 node on 127.0.0.1 (port chosen by the OS)."""
    running = Node(config)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def http(node: Node) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client session on the running T01 node's API."""
    async with aiohttp.ClientSession(node.url) as session:
        yield session


LogFactory = Callable[..., IncidentLog]


@pytest.fixture
def make_log(tmp_path: Path) -> Iterator[LogFactory]:
    """``make_log(identity, *trusted_identities, clock=None)``: an IncidentLog on its own
    SQLite file; ``clock`` (wall-clock ms) defaults to the real one."""
    stores: list[Store] = []

    def make(identity: NodeIdentity, *trusted: NodeIdentity,
             clock: Callable[[], int] | None = None) -> IncidentLog:
        store = Store(tmp_path / f"{identity.name}-{len(stores)}.db")
        stores.append(store)
        keyring = Keyring.from_names(identity, {t.name: t.public_key_b64 for t in trusted})
        if clock is None:
            return IncidentLog(store, identity, keyring)
        return IncidentLog(store, identity, keyring, clock=clock)

    yield make
    for store in stores:
        store.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[TempPostgres]:
    """A real PostgreSQL server (Debian's package, `make system-deps`) on a unix socket in a
    temporary folder, for the whole session; stopped and deleted afterwards."""
    if find_bindir() is None:
        pytest.skip("PostgreSQL is not installed: `make system-deps` installs it")
    with TempPostgres() as server:
        yield server


@pytest.fixture
def pg_url(postgres: TempPostgres) -> str:
    """The URL of a new, empty database on the session's PostgreSQL server."""
    return postgres.create_database()
