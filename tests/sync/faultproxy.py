"""A fault-injecting TCP proxy for loopback tests: drops, delays, duplicates, truncation,
resets, and partitions (``down``), switchable while it runs."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import Counter

FAULTS = ("drop", "delay", "duplicate", "truncate", "reset")


class FaultProxy:
    """Listens on 127.0.0.1 and forwards to ``target_port``.

    ``mode``: ``clean`` forwards faithfully; ``faulty`` gives each connection one fault
    (or none) at random; ``down`` refuses every connection and cuts the open ones.
    """

    def __init__(self, name: str, target_port: int, seed: int) -> None:
        self.name = name
        self.target_port = target_port
        self.rng = random.Random(seed)
        self.mode = "clean"
        self.port = 0
        self.faults: Counter[str] = Counter()
        self.traffic = asyncio.Event()  # set whenever bytes pass
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.set_mode("down")
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode == "down":
            for writer in list(self._open):
                _reset(writer)

    async def _handle(self, client_r: asyncio.StreamReader,
                      client_w: asyncio.StreamWriter) -> None:
        if self.mode == "down":
            self.faults["refused"] += 1
            _reset(client_w)
            return
        if self.mode == "faulty" and self.rng.random() < 0.1:
            self.faults["drop"] += 1
            client_w.close()
            return
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            _reset(client_w)
            return
        self._open |= {client_w, server_w}
        pipes = {asyncio.ensure_future(self._pipe(client_r, server_w)),
                 asyncio.ensure_future(self._pipe(server_r, client_w))}
        cut = "eof"
        try:
            while pipes:
                done, pipes = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
                ends = [t.result() if t.exception() is None else "reset" for t in done]
                cut = next((e for e in ends if e != "eof"), "eof")
                if cut != "eof":
                    break
        finally:
            for t in pipes:
                t.cancel()
            for w in (client_w, server_w):
                self._open.discard(w)
                if cut == "reset":
                    _reset(w)
                else:
                    w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        """Forward until EOF ("eof"), or until a fault ends it ("cut" or "reset").

        In ``faulty`` mode each chunk may be delayed, sent twice, truncated (and the
        connection closed) or followed by a reset."""
        while True:
            chunk = await reader.read(4096)
            if self.mode == "down":
                return "reset"
            if not chunk:
                break
            fault = None
            if self.mode == "faulty" and self.rng.random() < 0.25:
                fault = self.rng.choice(FAULTS[1:])
                self.faults[fault] += 1
            if fault == "delay":
                await asyncio.sleep(self.rng.uniform(0, 0.05))  # the fault, not a sync
            elif fault in ("truncate", "reset"):
                writer.write(chunk[:self.rng.randint(0, len(chunk))])
                with contextlib.suppress(OSError):
                    await writer.drain()
                return "cut" if fault == "truncate" else "reset"
            writer.write(chunk)
            if fault == "duplicate":
                writer.write(chunk)
            await writer.drain()
            self.traffic.set()
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()
        return "eof"


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST, as a dying link or a crashed middlebox would."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
