"""Subscribing to the sensors' topics through an MQTT broker (aiomqtt, QoS 1).

The session is persistent (a fixed client id, clean_session off): readings a sensor
sends while the node is away wait at the broker. A message is acknowledged (PUBACK) only
after the batch holding it is committed, so a reading the broker counts as delivered is
on disk; a crash before that makes the broker deliver it again (and the store skips the
duplicate). When the broker goes away the client reconnects with a doubling backoff.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiomqtt

from fieldkit.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

BATCH = 1000
"""Most messages committed in one transaction."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as the ingest hands it on."""

    topic: str
    payload: bytes


class MqttState(StrEnum):
    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKOFF = "backoff"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where and as whom to connect (the password already read from its file)."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None
    reconnect_max_s: float = 30.0


class MqttIngest:
    """Subscribes to ``topics`` and hands each batch to ``handle`` (which commits it).

    :param handle: awaited with each batch; when it returns the batch is acknowledged.
        If it raises, the connection is dropped unacknowledged and the broker redelivers.
    """

    def __init__(self, broker: BrokerSettings, topics: list[str],
                 handle: Callable[[list[Delivery]], Awaitable[None]]) -> None:
        self.broker = broker
        self.topics = topics
        self._handle = handle
        self.state = MqttState.NEW
        self.connects = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def _set_state(self, state: MqttState) -> None:
        logger.info("mqtt %s:%d: %s -> %s", self.broker.host, self.broker.port, self.state, state)
        self.state = state
        if state is MqttState.CONNECTED:
            self.connected.set()
        else:
            self.connected.clear()

    async def start(self) -> None:
        if self.state is not MqttState.NEW:
            raise RuntimeError(f"cannot start the MQTT ingest in state {self.state}")
        self._task = asyncio.create_task(self._run(), name="sensors-mqtt")

    async def stop(self) -> None:
        """Disconnect; safe to call twice."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self.state is not MqttState.STOPPED:
            self._set_state(MqttState.STOPPED)

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state.value, "broker": f"{self.broker.host}:{self.broker.port}",
                "tls": self.broker.tls is not None, "connects": self.connects,
                "last_error": self.last_error}

    async def _run(self) -> None:
        wait = 0.1
        while True:
            self._set_state(MqttState.CONNECTING)
            connects = self.connects
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                self.last_error = str(exc)
                if self.connects > connects:  # it was up: the next attempt starts quick
                    wait = 0.1
            except Exception as exc:  # the handler failed: a full or broken store
                # The batch was not acknowledged: the broker delivers it again after the
                # backoff, which keeps growing while the store keeps failing.
                self.last_error = f"readings not stored: {exc}"
                logger.exception("mqtt: %s", self.last_error)
            logger.warning("mqtt %s:%d: %s; retrying in %.1f s", self.broker.host,
                           self.broker.port, self.last_error, wait)
            self._set_state(MqttState.BACKOFF)
            await asyncio.sleep(wait)  # reconnect backoff
            wait = min(wait * 2, self.broker.reconnect_max_s)

    async def _session(self) -> None:
        b = self.broker
        client = aiomqtt.Client(
            b.host, b.port, username=b.username, password=b.password, identifier=b.client_id,
            clean_session=False, tls_context=b.tls, keepalive=30, timeout=10,
            max_inflight_messages=BATCH)
        # aiomqtt has no switch for it: paho's own manual acknowledgement, so a PUBACK
        # leaves only after the reading is committed.
        client._client.manual_ack_set(True)
        async with client:
            if self.topics:
                await client.subscribe([(t, 1) for t in self.topics])
            self.connects += 1
            self.last_error = None
            self._set_state(MqttState.CONNECTED)
            queue = client._queue
            async for message in client.messages:
                # Take what else is queued straight from aiomqtt's queue: its iterator
                # costs a task and a wait per message, which halves the rate.
                batch = [message]
                while len(batch) < BATCH and not queue.empty():
                    batch.append(queue.get_nowait())
                await self._handle([Delivery(m.topic.value, _bytes(m.payload)) for m in batch])
                for m in batch:
                    client._client.ack(m.mid, m.qos)


def _bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return str(payload).encode() if payload is not None else b""


def tls_context(ca_file: str) -> ssl.SSLContext:
    """A client context trusting only ``ca_file`` (the broker's CA)."""
    return ssl.create_default_context(cafile=ca_file)
