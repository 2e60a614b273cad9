"""Byte transports under a MAVLink link: UDP listen, UDP connect, TCP connect, serial.

Built on the standard library rather than pymavlink's ``mavutil`` connections: those
need pyserial for serial ports and give no way to wait for data that a stop request can
interrupt. Each transport exposes a file descriptor for ``selectors``; reads never block
for long, and every OS error is raised as :class:`~fieldkit.errors.IngestError` naming the
endpoint.
"""

from __future__ import annotations

import contextlib
import os
import socket
import termios
import tty
from pathlib import Path
from typing import Protocol

from drone.config import DroneLinkSection
from fieldkit.errors import IngestError

UDP_MAX = 65535
TCP_CONNECT_TIMEOUT_S = 5.0


class Closed(IngestError):
    """The far end closed a stream transport (TCP, serial); it may be reopened."""


class Transport(Protocol):
    datagrams: bool
    """Each read is whole packets (UDP)."""
    describe: str

    def open(self) -> None: ...
    def fileno(self) -> int: ...
    def read(self) -> bytes: ...
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...
    def confirm_sender(self) -> None:
        """The last read came from the vehicle (it was accepted): answer there."""


class _SocketTransport:
    """What the socket transports share: the socket, its descriptor, closing it."""

    def __init__(self, describe: str, host: str, port: int) -> None:
        self.describe = describe
        self._addr = (host, port)
        self._sock: socket.socket | None = None

    def fileno(self) -> int:
        assert self._sock is not None
        return self._sock.fileno()

    def confirm_sender(self) -> None:
        """Connected transports have one far end: nothing to learn."""

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class UdpListen(_SocketTransport):
    """Bound to host:port; replies go to the last sender whose packet was accepted
    (:meth:`confirm_sender`), not to whoever sent last as MAVProxy's udpin does: one
    forged datagram must not take the ground station's return path."""

    datagrams = True

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"udp_listen {host}:{port}", host, port)
        self.peer: tuple[str, int] | None = None
        self._sender: tuple[str, int] | None = None

    def open(self) -> None:
        family = socket.AF_INET6 if ":" in self._addr[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind(self._addr)
        except OSError as exc:
            sock.close()
            raise IngestError(f"{self.describe}: cannot bind: {exc.strerror}") from exc
        sock.setblocking(False)
        self._sock = sock
        self.describe = f"udp_listen {self._addr[0]}:{self.local_port}"

    @property
    def local_port(self) -> int:
        assert self._sock is not None
        return int(self._sock.getsockname()[1])

    def read(self) -> bytes:
        assert self._sock is not None
        try:
            data, self._sender = self._sock.recvfrom(UDP_MAX)
        except (BlockingIOError, ConnectionRefusedError):
            return b""
        return data

    def confirm_sender(self) -> None:
        self.peer = self._sender

    def write(self, data: bytes) -> None:
        if self._sock is not None and self.peer is not None:
            with contextlib.suppress(OSError):
                self._sock.sendto(data, self.peer)


class UdpConnect(_SocketTransport):
    """Sends to host:port and reads what comes back (as MAVProxy's udpout)."""

    datagrams = True

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"udp_connect {host}:{port}", host, port)

    def open(self) -> None:
        family = socket.AF_INET6 if ":" in self._addr[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.connect(self._addr)
        except OSError as exc:
            sock.close()
            raise IngestError(f"{self.describe}: {exc.strerror or exc}") from exc
        sock.setblocking(False)
        self._sock = sock

    def read(self) -> bytes:
        assert self._sock is not None
        try:
            return self._sock.recv(UDP_MAX)
        except (BlockingIOError, ConnectionRefusedError):
            return b""  # nobody listening there (yet): ICMP port unreachable

    def write(self, data: bytes) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.send(data)


class TcpConnect(_SocketTransport):
    """A TCP client (MAVProxy tcpin, SITL's 5760); reopened by the link after a cut."""

    datagrams = False

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"tcp_connect {host}:{port}", host, port)

    def open(self) -> None:
        try:
            sock = socket.create_connection(self._addr, timeout=TCP_CONNECT_TIMEOUT_S)
        except OSError as exc:
            raise IngestError(f"{self.describe}: cannot connect: "
                              f"{exc.strerror or exc}") from exc
        sock.setblocking(False)
        self._sock = sock

    def read(self) -> bytes:
        assert self._sock is not None
        try:
            data = self._sock.recv(UDP_MAX)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise Closed(f"{self.describe}: {exc.strerror or exc}") from exc
        if not data:
            raise Closed(f"{self.describe}: closed by the far end")
        return data

    def write(self, data: bytes) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.sendall(data)


_BAUDS = {b: getattr(termios, f"B{b}") for b in (
    1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 921600,
    1000000, 1500000, 2000000, 3000000, 4000000) if hasattr(termios, f"B{b}")}


class Serial:
    """A serial port (telemetry radio, USB autopilot), raw 8N1 at ``baud``."""

    datagrams = False

    def __init__(self, device: Path, baud: int) -> None:
        self.describe = f"serial {device} @ {baud}"
        self._device = device
        self._baud = baud
        self._fd: int | None = None

    def confirm_sender(self) -> None:
        """A serial line has one far end: nothing to learn."""

    def open(self) -> None:
        speed = _BAUDS.get(self._baud)
        if speed is None:
            raise IngestError(f"{self.describe}: unsupported baud rate; use one of "
                              f"{', '.join(map(str, _BAUDS))}")
        try:
            fd = os.open(self._device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            raise IngestError(f"{self.describe}: cannot open: {exc.strerror}") from exc
        try:
            tty.setraw(fd)
            attrs = termios.tcgetattr(fd)
            attrs[4] = attrs[5] = speed
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except termios.error as exc:
            os.close(fd)
            raise IngestError(f"{self.describe}: not a serial port: {exc}") from exc
        self._fd = fd

    def fileno(self) -> int:
        assert self._fd is not None
        return self._fd

    def read(self) -> bytes:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise Closed(f"{self.describe}: {exc.strerror}") from exc
        if not data:
            raise Closed(f"{self.describe}: device closed")
        return data

    def write(self, data: bytes) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.write(self._fd, data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def make_transport(settings: DroneLinkSection) -> Transport:
    if settings.kind == "udp_listen":
        return UdpListen(settings.host, settings.port)
    if settings.kind == "udp_connect":
        return UdpConnect(settings.host, settings.port)
    if settings.kind == "tcp_connect":
        return TcpConnect(settings.host, settings.port)
    assert settings.device is not None  # the config requires it for serial
    return Serial(settings.device, settings.baud)
