"""Links over real transports on 127.0.0.1: UDP listen (with forwarding to a ground
station), UDP connect, TCP connect (with a reconnect) and a serial port (a pty)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Callable

import pytest
from dronehelp import CAMERA, flight, sim
from waiting import until

from drone.config import DroneLinkSection
from drone.link import DroneLink, LinkState
from drone.receiver import Receiver
from drone.signing import SigningKey
from drone.sim import SimSettings, SimVehicle
from drone.transport import make_transport
from fieldkit.errors import IngestError

TIMEOUT = 10.0


async def wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    await until(condition, "the link to get there", timeout)


def make_link(key: SigningKey | None = None, **settings) -> DroneLink:
    section = DroneLinkSection.model_validate({"name": "L1", **settings})
    receiver = Receiver("L1", default_camera=CAMERA, key=key,
                        datagrams=section.kind.startswith("udp"))
    return DroneLink(section, receiver, make_transport(section), key=key)


def has_position(link: DroneLink, system: int = 1) -> bool:
    return any(s.system_id == system and s.lat is not None for s in link.samples())


async def test_udp_listen_receives_the_simulator():
    link = make_link(kind="udp_listen", port=0)
    await link.start()
    assert link.state is LinkState.RUNNING
    assert link.port
    drone = SimVehicle(SimSettings(port=link.port))
    await drone.start()
    try:
        await wait_for(lambda: has_position(link))
    finally:
        await drone.stop()
        await link.stop()
        await link.stop()  # twice is safe
    assert link.state is LinkState.STOPPED
    (s,) = link.samples()
    assert s.autopilot == "ardupilot"
    assert s.mode == "GUIDED"
    assert link.stats().bad_data == 0


async def test_start_twice_is_refused_and_bind_conflict_is_an_ingest_error():
    link = make_link(kind="udp_listen", port=0)
    await link.start()
    try:
        with pytest.raises(IngestError, match="drone link L1: cannot start in state running"):
            await link.start()
        clash = make_link(kind="udp_listen", port=link.port)
        with pytest.raises(IngestError, match=rf"udp_listen 127.0.0.1:{link.port}: cannot bind"):
            await clash.start()
    finally:
        await link.stop()


async def test_forwarding_passes_the_stream_on_and_replies_back():
    gcs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    gcs.bind(("127.0.0.1", 0))
    gcs.settimeout(TIMEOUT)
    vehicle = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    vehicle.bind(("127.0.0.1", 0))
    vehicle.settimeout(TIMEOUT)
    link = make_link(kind="udp_listen", port=0, forward_host="127.0.0.1",
                     forward_port=gcs.getsockname()[1])
    await link.start()
    try:
        packets = flight(sim(), 1.0)[:20]
        for p in packets:
            vehicle.sendto(p, ("127.0.0.1", link.port))
        got = [await asyncio.to_thread(gcs.recvfrom, 65535) for _ in packets]
        assert [data for data, _ in got] == packets  # byte for byte, in order
        forward_addr = got[0][1]
        # The pilot's ground station answers (a command): it reaches the vehicle unchanged.
        gcs.sendto(b"\xfdcommand-bytes", forward_addr)
        data, _ = await asyncio.to_thread(vehicle.recvfrom, 65535)
        assert data == b"\xfdcommand-bytes"
        # Anyone else writing to the forward socket does not reach the vehicle.
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger.sendto(b"\xfdinjected", forward_addr)
        stranger.close()
        gcs.sendto(b"\xfdsecond", forward_addr)
        data, _ = await asyncio.to_thread(vehicle.recvfrom, 65535)
        assert data == b"\xfdsecond"
        await wait_for(lambda: link.stats().forwarded == len(packets))
    finally:
        await link.stop()
        gcs.close()
        vehicle.close()


async def test_udp_connect_announces_itself_and_receives():
    endpoint = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # like MAVProxy --out udpin
    endpoint.bind(("127.0.0.1", 0))
    endpoint.settimeout(TIMEOUT)
    link = make_link(kind="udp_connect", port=endpoint.getsockname()[1])
    await link.start()
    try:
        hello, node_addr = await asyncio.to_thread(endpoint.recvfrom, 65535)
        assert hello[0] == 0xFD
        assert hello[5] == 250
        for p in flight(sim(), 1.0):
            endpoint.sendto(p, node_addr)
        await wait_for(lambda: has_position(link))
    finally:
        await link.stop()
        endpoint.close()


class StreamServer:
    """A TCP server (like SITL on 5760) that sends the simulator's bytes in odd-sized
    chunks to each client, then hangs up."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.clients = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for _ in range(2):
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.clients += 1
            with conn:
                for i in range(0, len(self.payload), 97):
                    conn.sendall(self.payload[i:i + 97])
        self.sock.close()


async def test_tcp_connect_reassembles_and_reconnects():
    a = b"".join(flight(sim(system_id=1), 1.5))
    server = StreamServer(a)
    link = make_link(kind="tcp_connect", port=server.port)
    await link.start()
    try:
        await wait_for(lambda: server.clients == 2 and link.stats().bytes == 2 * len(a))
        assert has_position(link)
        assert link.stats().bad_data == 0
    finally:
        await link.stop()


async def test_tcp_peer_absent_at_start_does_not_fail_the_link():
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    link = make_link(kind="tcp_connect", port=port)
    await link.start()
    assert link.state is LinkState.RUNNING
    await link.stop()


async def test_serial_port_via_a_pty():
    controller, device = os.openpty()
    link = make_link(kind="serial", device=os.ttyname(device), baud=57600)
    await link.start()
    try:
        stream = b"".join(flight(sim(autopilot="px4"), 1.5))
        for i in range(0, len(stream), 64):
            os.write(controller, stream[i:i + 64])
        await wait_for(lambda: has_position(link))
        assert link.samples()[0].autopilot == "px4"
    finally:
        await link.stop()
        os.close(controller)
        os.close(device)


async def test_serial_device_missing_is_retried_not_fatal(tmp_path):
    link = make_link(kind="serial", device=str(tmp_path / "ttyNONE"))
    await link.start()
    assert link.state is LinkState.RUNNING
    await link.stop()


async def test_signed_link_over_udp_takes_only_signed_drones():
    key = SigningKey.from_text("field key")
    link = make_link(key=key, kind="udp_listen", port=0)
    await link.start()
    good = SimVehicle(SimSettings(port=link.port, system_id=1, key=key))
    rogue = SimVehicle(SimSettings(port=link.port, system_id=2))
    await good.start()
    await rogue.start()
    try:
        await wait_for(lambda: has_position(link)
                       and (link.stats().signing or None) is not None
                       and link.stats().signing.unsigned > 20)  # type: ignore[union-attr]
    finally:
        await good.stop()
        await rogue.stop()
        await link.stop()
    assert [s.system_id for s in link.samples()] == [1]


async def test_signed_link_forwards_only_verified_packets_and_keeps_the_return_path():
    """Issue 14 items 9 and 10: with a key, what fails the signature check is not passed
    to the pilot's ground station, and a forger (on another port, sending last) does not
    get the ground station's commands. Real MAVLink bytes from the project's simulator
    (ArduPilot SITL is not available here)."""
    key = SigningKey.from_text("field key")
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    gcs, vehicle, forger = sockets
    for s in sockets:
        s.bind(("127.0.0.1", 0))
        s.settimeout(TIMEOUT)
    link = make_link(key=key, kind="udp_listen", port=0, forward_host="127.0.0.1",
                     forward_port=gcs.getsockname()[1])
    await link.start()
    try:
        genuine = flight(sim(key=key), 0.5)[:10]
        for p in genuine:
            vehicle.sendto(p, ("127.0.0.1", link.port))
        forwarded = [await asyncio.to_thread(gcs.recvfrom, 65535) for _ in genuine]
        assert [data for data, _ in forwarded] == genuine
        forged = flight(sim(system_id=1), 0.5)[:5] + flight(sim(key=SigningKey.from_text(
            "not the field key")), 0.5)[:5]
        for p in forged:
            forger.sendto(p, ("127.0.0.1", link.port))
        await wait_for(lambda: (link.stats().signing or None) is not None
                       and link.stats().signing.unsigned  # type: ignore[union-attr]
                       + link.stats().signing.bad_signature == len(forged))  # type: ignore[union-attr]
        gcs.sendto(b"\xfdarm", forwarded[0][1])  # the pilot's COMMAND_LONG
        data, _ = await asyncio.to_thread(vehicle.recvfrom, 65535)
        assert data == b"\xfdarm"
        assert link.stats().forwarded == len(genuine)  # nothing of the forger's
    finally:
        await link.stop()
        for s in sockets:
            s.close()


async def test_a_tcp_link_that_receives_nothing_says_so(monkeypatch, caplog):
    """Issue 14 item 12: a port that accepts but never speaks MAVLink is named."""
    monkeypatch.setattr("drone.link.SILENT_S", 0.3)
    caplog.set_level(logging.WARNING, logger="drone.link")
    quiet = socket.socket()
    quiet.bind(("127.0.0.1", 0))
    quiet.listen()
    link = make_link(kind="tcp_connect", port=quiet.getsockname()[1])
    await link.start()
    try:
        await wait_for(lambda: any("nothing received in 0 s: is that port a MAVLink stream?"
                                   in r.getMessage() for r in caplog.records))
    finally:
        await link.stop()
        quiet.close()
