"""Peer discovery on the local network with zeroconf (mDNS/DNS-SD).

The node announces ``_fieldkit._tcp.local.`` with its name and role, and browses for
other nodes; found peers are added to the scheduler's peer set and the scheduler is woken.
Zeroconf is bound to ONE interface address (``sync.discovery_interface``, loopback by
default and in tests), never to all interfaces. Discovery only says where a peer might be:
every session is still authenticated with node keys, so a false announcement costs one
refused connection, nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from fieldkit.config import Config
from sync.config import SyncSection

logger = logging.getLogger(__name__)

SERVICE = "_fieldkit._tcp.local."


class Discovery:
    """Announce this node and collect peers into ``found`` (name -> URL).

    :param config: the node's config (name, role, API port, discovery interface).
    :param found: filled with discovered peers.
    :param changed: called when a new peer appears.
    :param port: the API port to announce (default: ``config.api.port``).
    """

    def __init__(self, config: Config, found: dict[str, str],
                 changed: object = None, port: int | None = None) -> None:
        self._config = config
        self._found = found
        self._changed = changed
        self._port = port if port is not None else config.api.port
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        iface = self._config.section(SyncSection).discovery_interface
        self._zc = AsyncZeroconf(interfaces=[iface], ip_version=IPVersion.V4Only)
        name = self._config.node.name
        if self._port:
            self._info = AsyncServiceInfo(
                SERVICE, f"{name}.{SERVICE}", addresses=[socket.inet_aton(iface)],
                port=self._port, properties={"node": name, "role": self._config.node.role})
            await self._zc.async_register_service(self._info)
        else:
            logger.warning("discovery: api.port is 0, so this node is not announced")
        self._browser = AsyncServiceBrowser(self._zc.zeroconf, SERVICE,
                                            handlers=[self._on_change])
        logger.info("discovery on %s", iface)

    async def stop(self) -> None:
        zc, self._zc = self._zc, None
        if zc is None:
            return
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._info is not None:
            await zc.async_unregister_service(self._info)
        await zc.async_close()

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str,
                   state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Added:
            task = asyncio.ensure_future(self._resolve(zeroconf, service_type, name))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _resolve(self, zeroconf: Zeroconf, service_type: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(zeroconf, 3000):
            return
        node = (info.properties or {}).get(b"node")
        addresses = info.parsed_addresses()
        if not node or not addresses or not info.port:
            return
        peer = node.decode("utf-8", "replace")
        if peer == self._config.node.name:
            return
        url = f"http://{addresses[0]}:{info.port}"
        if self._found.get(peer) != url:
            self._found[peer] = url
            logger.info("discovered %s at %s", peer, url)
            if callable(self._changed):
                self._changed()
