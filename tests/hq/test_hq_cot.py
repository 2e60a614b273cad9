"""Cursor-on-Target: every event the publisher sends is read back by takproto (the TAK
protocol library, not ours), over UDP multicast on the loopback interface only (TTL 0)
and over TLS from a TAK-like server the test starts on 127.0.0.1 with a self-signed
certificate it makes."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hqhelp import LAT0, LON0, cot_receiver, free_udp_port, offset, parse_cot

from fieldkit.hlc import wall_ms
from fieldkit.hq.config import CotSection, HqSection
from fieldkit.hq.cot import (
    DELETE,
    DRONE,
    MARKER,
    TRUCK,
    CotPublisher,
    TakClient,
    incident_uid,
    tak_context,
)
from fieldkit.worker import LogWorker

DEADLINE_S = 10.0
async def _datagrams(sock: socket.socket, count: int) -> list[bytes]:
    loop = asyncio.get_running_loop()
    got = []
    async with asyncio.timeout(DEADLINE_S):
        while len(got) < count:
            got.append(await loop.sock_recv(sock, 65536))
    return got


@pytest.fixture
async def worker(config):
    opened = await LogWorker.open(config)
    yield opened
    await opened.close()


def _with_cot(config, **cot):
    return config.model_copy(update={"hq": HqSection(cot=CotSection(**cot))})


async def test_multicast_markers_updates_deletes_and_positions(config, worker):
    port = free_udp_port()
    config = _with_cot(config, multicast=True, multicast_port=port, multicast_ttl=0)
    receiver = cot_receiver(port)
    publisher = CotPublisher(config, worker)
    publisher.open_multicast()
    log = worker.log
    try:
        incident = await worker.call(log.create, title="Crush at ramp 3", kind="crowd_density",
                                     severity=4, location={"lat": LAT0, "lon": LON0,
                                                           "accuracy_m": 12})
        await worker.call(log.create, title="zone only", kind="medical", severity=2,
                          location={"zone": "B"})  # no position: no marker
        lat, lon = offset(100, 0)
        now = wall_ms()
        with log.store.write() as conn:
            conn.execute("INSERT INTO drone_samples (vehicle, link, system_id, at_ms, lat, lon)"
                         " VALUES ('D1', 'pilots', 1, ?, ?, ?)", [now, lat, lon])
            conn.execute("INSERT INTO truck_positions (at_ms, lat, lon, mode)"
                         " VALUES (?, ?, ?, 3)", [now, LAT0, LON0 + 0.001])
        assert await publisher.tick(refresh=True) == 3
        events = {e.uid: e for e in map(parse_cot, await _datagrams(receiver, 3))}
        marker = events[incident_uid(incident.id)]
        assert (marker.type, marker.lat, marker.lon, marker.ce) == (MARKER, LAT0, LON0, 12.0)
        assert marker.detail.contact.callsign == "Crush at ramp 3"
        assert "<remarks>[crowd_density sev 4 new] Crush at ramp 3. Units: none.</remarks>" \
            in marker.detail.xmlDetail
        assert marker.staleTime - marker.sendTime == 300_000
        drone = events[f"fieldkit-drone-{config.node.name}-D1"]
        assert (drone.type, drone.detail.contact.callsign) == (DRONE, "D1")
        assert drone.lat == pytest.approx(lat)
        assert events[f"fieldkit-truck-{config.node.name}"].type == TRUCK

        assert await publisher.tick(refresh=False) == 0  # nothing changed: nothing sent
        await worker.call(log.assign, incident.id, "police", "P-21")
        assert await publisher.tick(refresh=False) == 1
        (update,) = map(parse_cot, await _datagrams(receiver, 1))
        assert "Units: police:P-21." in update.detail.xmlDetail

        await worker.call(log.set_status, incident.id, "closed")
        assert await publisher.tick(refresh=False) == 2
        stale, delete = map(parse_cot, await _datagrams(receiver, 2))
        assert stale.uid == incident_uid(incident.id)
        assert stale.staleTime == stale.sendTime
        assert delete.type == DELETE
        assert f'<link uid="{incident_uid(incident.id)}" relation="none"' in \
            delete.detail.xmlDetail
        assert "__forcedelete" in delete.detail.xmlDetail
        assert await publisher.tick(refresh=True) == 2  # drone and truck only from now on
        assert {e.uid for e in map(parse_cot, await _datagrams(receiver, 2))} == {
            f"fieldkit-drone-{config.node.name}-D1", f"fieldkit-truck-{config.node.name}"}
    finally:
        await publisher.stop()
        receiver.close()


def test_the_multicast_socket_leaves_by_the_configured_interface_only():
    from fieldkit.hq.cot import multicast_socket

    sock = multicast_socket(CotSection(multicast=True, multicast_ttl=0))
    try:
        iface = sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4)
        assert socket.inet_ntoa(iface) == "127.0.0.1"
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 0
    finally:
        sock.close()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test TAK server")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "tak.pem", tmp_path / "tak.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class TakServer:
    """A TLS listener on 127.0.0.1 that collects the CoT events streamed to it."""

    def __init__(self) -> None:
        self.buffer = b""
        self.changed = asyncio.Event()
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while data := await reader.read(65536):
            self.buffer += data
            self.changed.set()
        writer.close()

    def events(self) -> list[bytes]:
        return [chunk + b"</event>" for chunk in self.buffer.split(b"</event>")[:-1]]

    async def wait_for(self, predicate) -> list:
        async with asyncio.timeout(DEADLINE_S):
            while True:
                parsed = [parse_cot(e) for e in self.events()]
                if predicate(parsed):
                    return parsed
                self.changed.clear()
                await self.changed.wait()


async def test_tak_server_over_tls(config, worker, tmp_path):
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    tak = TakServer()
    server = await asyncio.start_server(tak.handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    config = _with_cot(config, tak_host="127.0.0.1", tak_port=port, tak_ca_file=cert,
                       interval_s=0.2)
    client = TakClient("127.0.0.1", port, tak_context(config))
    publisher = CotPublisher(config, worker, None, client)
    log = worker.log
    try:
        incident = await worker.call(log.create, title="Fire near gate 2", kind="fire",
                                     severity=5, location={"lat": LAT0, "lon": LON0})
        await publisher.start()
        events = await tak.wait_for(lambda es: any(e.uid == incident_uid(incident.id)
                                                   for e in es))
        assert events[0].type == MARKER
        assert events[0].lat == LAT0
        await worker.call(log.set_status, incident.id, "resolved")
        await tak.wait_for(lambda es: any(e.type == DELETE for e in es))
        assert client.connects == 1
    finally:
        await publisher.stop()
        server.close()
        await server.wait_closed()


async def test_an_untrusted_tak_server_is_refused(config, tmp_path):
    cert, key = _self_signed(tmp_path)
    (tmp_path / "other").mkdir()
    other, _ = _self_signed(tmp_path / "other")  # a different CA
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    tak = TakServer()
    server = await asyncio.start_server(tak.handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    ctx = ssl.create_default_context(cafile=other)
    client = TakClient("127.0.0.1", port, ctx)
    try:
        assert not await client.connect()
        assert "CERTIFICATE_VERIFY_FAILED" in (client.last_error or "")
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


async def test_the_tak_connection_comes_back_with_the_whole_picture(config, worker, tmp_path):
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    tak = TakServer()
    first: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not first:  # the first connection is cut as soon as something arrives
            first.append(writer)
            tak.connections += 1
            await reader.read(1)
            writer.close()
            return
        await tak.handle(reader, writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    config = _with_cot(config, tak_host="127.0.0.1", tak_port=port, tak_ca_file=cert,
                       interval_s=0.1)
    from fieldkit.hq.cot import tak_context

    client = TakClient("127.0.0.1", port, tak_context(config))
    publisher = CotPublisher(config, worker, None, client)
    incident = await worker.call(worker.log.create, title="Fight at gate 5", kind="fight",
                                 severity=4, location={"lat": LAT0, "lon": LON0})
    try:
        await publisher.start()
        await tak.wait_for(lambda es: any(e.uid == incident_uid(incident.id) for e in es))
        assert tak.connections == 2
        assert client.connects == 2
    finally:
        await publisher.stop()
        server.close()
        await server.wait_closed()


async def test_a_node_with_cot_multicast_sends_new_incidents_at_once(config):
    import aiohttp

    from fieldkit.node import Node

    port = free_udp_port()
    receiver = cot_receiver(port)
    running = Node(_with_cot(config, multicast=True, multicast_port=port, multicast_ttl=0,
                             interval_s=3600))
    await running.start()
    try:
        async with aiohttp.ClientSession(running.url) as http:
            created = await (await http.post("/api/incidents", json={
                "title": "Smoke", "kind": "fire", "severity": 3,
                "location": {"lat": LAT0, "lon": LON0}})).json()
        uid = incident_uid(created["id"])
        async with asyncio.timeout(DEADLINE_S):
            while True:  # the feed wakes the publisher: no need to wait for a refresh
                (event,) = map(parse_cot, await _datagrams(receiver, 1))
                if event.uid == uid:
                    break
        assert event.type == MARKER
    finally:
        await running.stop()
        receiver.close()


def test_incidents_synced_late_count_as_changed(make_log):
    from hqhelp import FixedClock

    from fieldkit.hq.cot import changed_since
    from fieldkit.identity import NodeIdentity

    t01, hq_id = NodeIdentity.generate("T01"), NodeIdentity.generate("HQ")
    truck = make_log(t01, hq_id, clock=FixedClock(1_700_000_000_000))  # written long ago
    hq = make_log(hq_id, t01)
    hq.create(title="HQ's", kind="other", severity=1, location={"zone": "z"})
    cursor = hq.cursor()
    old = truck.create(title="From T01", kind="fire", severity=3, location={"zone": "z"})
    assert changed_since(hq, cursor) == []
    hq.apply([e for _, e in truck.feed()])
    assert [i.id for i in changed_since(hq, cursor)] == [old.id]


@pytest.mark.parametrize("protocol", ["tcp", "tls"])
async def test_tak_server_over_plain_tcp_or_tls_without_a_client_cert(config, worker,
                                                                      tmp_path, caplog,
                                                                      protocol):
    """Issue 14 item 13: taky, FreeTAKServer and TAK Server take plain TCP (8087) on
    closed networks (logged as unencrypted); over TLS a client certificate is optional."""
    caplog.set_level(logging.INFO, logger="fieldkit.hq.cot")
    tak = TakServer()
    server_ctx, extra = None, {}
    if protocol == "tls":
        cert, key = _self_signed(tmp_path)
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(cert, key)
        extra = {"tak_ca_file": cert}
    server = await asyncio.start_server(tak.handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    config = _with_cot(config, tak_host="127.0.0.1", tak_port=port, tak_protocol=protocol,
                       interval_s=0.2, **extra)
    client = TakClient("127.0.0.1", port, tak_context(config))
    publisher = CotPublisher(config, worker, None, client)
    try:
        incident = await worker.call(worker.log.create, title="Fire near gate 2", kind="fire",
                                     severity=5, location={"lat": LAT0, "lon": LON0})
        await publisher.start()
        await tak.wait_for(lambda es: any(e.uid == incident_uid(incident.id) for e in es))
    finally:
        await publisher.stop()
        server.close()
        await server.wait_closed()
    unencrypted = [r for r in caplog.records if "unencrypted" in r.getMessage()]
    assert bool(unencrypted) == (protocol == "tcp")
    assert any(f"({client.transport})" in r.getMessage() for r in caplog.records)


def test_plain_tcp_takes_no_tls_files(config, tmp_path):
    with pytest.raises(ValueError, match="tak_protocol tcp is unencrypted"):
        _with_cot(config, tak_host="127.0.0.1", tak_protocol="tcp",
                  tak_ca_file=tmp_path / "ca.pem")
