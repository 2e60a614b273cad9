"""Sensors that play a known truth: a turnstile bank in front of a gated zone, for the
tests, the demo and the benchmark. What they publish is what real controllers send
(running totals, stamped), through a real broker."""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass

import aiomqtt


@dataclass
class TurnstileBank:
    """Turnstiles into and out of one zone; ``inside`` is the truth."""

    topic_in: str
    topic_out: str
    entries: int = 0
    exits: int = 0

    @property
    def inside(self) -> int:
        return self.entries - self.exits

    def step(self, arrive: int, leave: int) -> None:
        """``arrive`` people pass in; up to ``leave`` of those inside pass out."""
        self.entries += arrive
        self.exits += min(leave, self.inside)

    def messages(self, at_ms: int) -> list[tuple[str, bytes]]:
        """The two running totals, stamped ``at_ms``."""
        return [(self.topic_in, json.dumps({"value": self.entries, "at": at_ms}).encode()),
                (self.topic_out, json.dumps({"value": self.exits, "at": at_ms}).encode())]


async def publish(port: int, messages: list[tuple[str, bytes]], host: str = "127.0.0.1",
                  username: str | None = None, password: str | None = None,
                  tls: ssl.SSLContext | None = None) -> None:
    """Publish ``messages`` at QoS 1, each acknowledged by the broker before returning."""
    async with aiomqtt.Client(host, port, username=username, password=password,
                              tls_context=tls, max_inflight_messages=1000) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)
