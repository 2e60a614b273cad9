"""Cursor-on-Target (CoT) for ATAK and TAK servers.

Each incident with a position is a marker (``b-m-p-s-m``) with remarks; it is sent again
whenever it changes and refreshed every ``hq.cot.interval_s`` (clients grey it out after
``stale_s`` without news). When an incident is resolved or closed its marker is sent once
more already stale, followed by a ``t-x-d-d`` delete event, so clients drop it. Drones and
this truck are positions (``a-f-A-M-F-Q``, ``a-f-G-E-V``).

Transports: UDP multicast (ATAK's SA group, 239.2.3.1:6969), leaving by exactly one
interface (``IP_MULTICAST_IF``) with a small TTL; and a TAK server over TLS (TCP
streaming of CoT XML, protocol version 0), reconnecting with backoff, the full picture
resent on each connection. Callback numbers are never sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

from fieldkit.config import Config
from fieldkit.errors import NotFoundError
from fieldkit.feed import EventFeed
from fieldkit.fold import Incident
from fieldkit.hlc import wall_ms
from fieldkit.hq.config import CotSection, HqSection
from fieldkit.hq.fusion import DronePosition, live_drones
from fieldkit.log import IncidentLog
from fieldkit.tasks import cancel_and_wait, wait_event
from fieldkit.worker import LogWorker

logger = logging.getLogger(__name__)

MARKER = "b-m-p-s-m"
DELETE = "t-x-d-d"
DRONE = "a-f-A-M-F-Q"
TRUCK = "a-f-G-E-V"
UNKNOWN_ERROR = "9999999.0"
#: ARGB colours (signed 32-bit, as ATAK writes them) by severity.
COLOUR = {1: -16711936, 2: -256, 3: -23296, 4: -65536, 5: -65281}


def cot_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def incident_uid(incident_id: str) -> str:
    return f"fieldkit-incident-{incident_id}"


def _event(uid: str, kind: str, how: str, lat: float, lon: float, now_ms: int,
           stale_ms: int, ce: float | None = None) -> tuple[ET.Element, ET.Element]:
    event = ET.Element("event", {
        "version": "2.0", "uid": uid, "type": kind, "how": how,
        "time": cot_time(now_ms), "start": cot_time(now_ms), "stale": cot_time(stale_ms)})
    ET.SubElement(event, "point", {
        "lat": f"{lat:.7f}", "lon": f"{lon:.7f}", "hae": UNKNOWN_ERROR,
        "ce": UNKNOWN_ERROR if ce is None else f"{ce:.1f}", "le": UNKNOWN_ERROR})
    return event, ET.SubElement(event, "detail")


def remarks(incident: Incident) -> str:
    units = ", ".join(f"{a.agency}:{a.unit}" for a in incident.assigned) or "none"
    text = (f"[{incident.kind} sev {incident.severity} {incident.status.value}] "
            f"{incident.title}. Units: {units}.")
    if incident.description:
        text += f" {incident.description[:500]}"
    if incident.notes:
        text += f" Last note: {incident.notes[-1].text[:300]}"
    return text


def incident_cot(incident: Incident, now_ms: int, stale_s: float) -> bytes | None:
    """The incident's marker; already stale when it is resolved or closed. None when it
    has no position."""
    loc = incident.location or {}
    if loc.get("lat") is None:
        return None
    stale = now_ms if not incident.status.is_open else now_ms + int(stale_s * 1000)
    event, detail = _event(incident_uid(incident.id), MARKER, "h-e", loc["lat"], loc["lon"],
                           now_ms, stale, loc.get("accuracy_m"))
    ET.SubElement(detail, "contact", {"callsign": incident.title[:80]})
    ET.SubElement(detail, "remarks").text = remarks(incident)
    ET.SubElement(detail, "color", {"argb": str(COLOUR.get(incident.severity, -1))})
    ET.SubElement(detail, "archive")
    return ET.tostring(event, encoding="utf-8", xml_declaration=True)


def delete_cot(incident: Incident, now_ms: int) -> bytes | None:
    """A ``t-x-d-d`` event telling clients to drop the incident's marker."""
    loc = incident.location or {}
    if loc.get("lat") is None:
        return None
    event, detail = _event(incident_uid(incident.id) + "-delete", DELETE, "h-g-i-g-o",
                           loc["lat"], loc["lon"], now_ms, now_ms + 20_000)
    ET.SubElement(detail, "link", {"uid": incident_uid(incident.id), "relation": "none",
                                   "type": MARKER})
    ET.SubElement(detail, "__forcedelete")
    return ET.tostring(event, encoding="utf-8", xml_declaration=True)


def drone_cot(node: str, drone: DronePosition, now_ms: int, stale_s: float) -> bytes:
    event, detail = _event(f"fieldkit-drone-{node}-{drone.vehicle}", DRONE, "m-g",
                           drone.lat, drone.lon, now_ms, now_ms + int(stale_s * 1000))
    ET.SubElement(detail, "contact", {"callsign": drone.vehicle})
    ET.SubElement(detail, "remarks").text = f"drone {drone.vehicle} of {node}"
    return ET.tostring(event, encoding="utf-8", xml_declaration=True)


@dataclass(frozen=True)
class TruckPosition:
    lat: float
    lon: float
    at_ms: int


def truck_cot(node: str, truck: TruckPosition, now_ms: int, stale_s: float) -> bytes:
    event, detail = _event(f"fieldkit-truck-{node}", TRUCK, "m-g", truck.lat, truck.lon,
                           now_ms, now_ms + int(stale_s * 1000))
    ET.SubElement(detail, "contact", {"callsign": node})
    ET.SubElement(detail, "remarks").text = f"command truck {node}"
    return ET.tostring(event, encoding="utf-8", xml_declaration=True)


def truck_position(log: IncidentLog) -> TruckPosition | None:
    row = log.store.conn.execute(
        "SELECT lat, lon, at_ms FROM truck_positions ORDER BY at_ms DESC LIMIT 1").fetchone()
    return None if row is None else TruckPosition(float(row[0]), float(row[1]), int(row[2]))


def changed_since(log: IncidentLog, cursor: int) -> list[Incident]:
    """Incidents with events that arrived after ``cursor`` (local arrival order, so events
    synced late from a truck count too), skipping those whose ``create`` is not held yet."""
    rows = log.store.conn.execute(
        "SELECT DISTINCT incident FROM events WHERE arrival > ?", [cursor]).fetchall()
    found = []
    for (incident_id,) in rows:
        with contextlib.suppress(NotFoundError):
            found.append(log.get(incident_id))
    return found


# --- transports --------------------------------------------------------------------------


def multicast_socket(section: CotSection) -> socket.socket:
    """A UDP socket that sends to the multicast group by one interface only."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                        socket.inet_aton(section.multicast_interface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, section.multicast_ttl)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class TakClient:
    """A TLS (or, with no ``context``, plain TCP) stream to a TAK server; :meth:`send`
    drops messages while disconnected (the publisher resends the whole picture after each
    connect)."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext | None) -> None:
        self.host, self.port, self._context = host, port, context
        self.transport = "TLS" if context is not None else "plain TCP, unencrypted"
        if context is None:
            logger.warning("CoT: the TAK server %s:%d is reached over plain TCP: the "
                           "picture travels unencrypted (hq.cot.tak_protocol = tcp)", host, port)
        self._writer: asyncio.StreamWriter | None = None
        self.connects = 0
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> bool:
        try:
            async with asyncio.timeout(10):
                _reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self._context,
                    server_hostname=self.host if self._context else None)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        self._writer = writer
        self.connects += 1
        self.last_error = None
        logger.info("CoT: connected to TAK server %s:%d (%s)", self.host, self.port,
                    self.transport)
        return True

    async def send(self, data: bytes) -> None:
        if self._writer is None:
            return
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (OSError, ssl.SSLError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.warning("CoT: TAK server %s:%d went away: %s", self.host, self.port,
                           self.last_error)
            await self.close()

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, ConnectionError):
                await writer.wait_closed()


def tak_context(config: Config) -> ssl.SSLContext | None:
    """The TLS context for the TAK server (the client certificate only if configured),
    or None for ``tak_protocol = "tcp"``."""
    section = config.section(HqSection).cot
    if section.tak_protocol == "tcp":
        return None
    ctx = ssl.create_default_context(
        cafile=None if section.tak_ca_file is None else config.path(section.tak_ca_file))
    if section.tak_cert_file is not None and section.tak_key_file is not None:
        ctx.load_cert_chain(config.path(section.tak_cert_file),
                            config.path(section.tak_key_file))
    return ctx


class CotPublisher:
    """Sends the picture to the configured CoT destinations until stopped."""

    def __init__(self, config: Config, worker: LogWorker, feed: EventFeed | None = None,
                 tak: TakClient | None = None) -> None:
        self.config = config
        self.section = config.section(HqSection).cot
        self._worker = worker
        self._feed = feed
        self._tak = tak
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._sent: dict[str, int] = {}
        """Incident id -> event count last sent as an open marker."""
        self._cursor: int | None = None
        """The log's arrival cursor at the last tick."""
        self.messages = 0

    async def start(self) -> None:
        if self._task is not None:
            return
        self.open_multicast()
        self._task = asyncio.create_task(self._run(), name="cot-publisher")

    def open_multicast(self) -> None:
        """Open the multicast socket when ``hq.cot.multicast`` is set."""
        if self.section.multicast and self._sock is None:
            self._sock = multicast_socket(self.section)

    async def stop(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._tak is not None:
            await self._tak.close()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def _run(self) -> None:
        backoff = 1.0
        next_refresh = next_connect = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            if self._tak is not None and not self._tak.connected \
                    and loop.time() >= next_connect:
                if await self._tak.connect():
                    backoff = 1.0
                    next_refresh = 0.0  # the new connection gets the whole picture
                else:
                    logger.warning("CoT: cannot reach the TAK server %s:%d (%s); retrying in "
                                   "%.0f s", self._tak.host, self._tak.port,
                                   self._tak.last_error, backoff)
                    next_connect = loop.time() + backoff
                    backoff = min(backoff * 2, 60.0)
            cursor = await self._worker.call(self._worker.log.cursor)
            refresh = loop.time() >= next_refresh
            if refresh:
                next_refresh = loop.time() + self.section.interval_s
            try:
                await self.tick(refresh)
            except Exception:
                logger.exception("CoT: publishing failed")
            wait = self.section.interval_s
            if self._tak is not None and not self._tak.connected:
                wait = max(0.0, min(wait, next_connect - loop.time()))
            if self._feed is not None and self._feed.running:
                await self._feed.wait_past(cursor, wait)
            else:  # no feed, or it stopped first at shutdown: wait for the stop
                await wait_event(self._stopping, wait)

    async def tick(self, refresh: bool = True) -> int:
        """Send what changed (and, with ``refresh``, every open marker and position)."""
        log = self._worker.log
        cursor = await self._worker.call(log.cursor)
        if refresh or self._cursor is None:
            incidents = await self._worker.call(log.incidents)
        else:  # only the incidents whose events arrived since the last tick
            incidents = await self._worker.call(changed_since, log, self._cursor)
        self._cursor = cursor
        now = wall_ms()
        out: list[bytes] = []
        for incident in incidents:
            if incident.status.is_open:
                if refresh or self._sent.get(incident.id) != incident.events:
                    data = incident_cot(incident, now, self.section.stale_s)
                    if data is not None:
                        out.append(data)
                        self._sent[incident.id] = incident.events
            elif self._sent.pop(incident.id, None) is not None:
                for data in (incident_cot(incident, now, self.section.stale_s),
                             delete_cot(incident, now)):
                    if data is not None:
                        out.append(data)
        if refresh:
            node = self.config.node.name
            drones = await self._worker.call(live_drones, log.store.conn, now,
                                             self.config.section(HqSection).drone_max_age_s)
            out += [drone_cot(node, d, now, self.section.stale_s) for d in drones]
            truck = await self._worker.call(truck_position, log)
            if truck is not None:
                out.append(truck_cot(node, truck, now, self.section.stale_s))
        for data in out:
            await self._send(data)
        return len(out)

    async def _send(self, data: bytes) -> None:
        self.messages += 1
        if self._sock is not None:
            try:
                self._sock.sendto(data, (self.section.multicast_group,
                                         self.section.multicast_port))
            except OSError as exc:
                logger.warning("CoT: multicast send failed: %s", exc)
        if self._tak is not None:
            await self._tak.send(data)
