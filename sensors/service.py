"""The sensors part inside the running node: MQTT ingest, the push route, the zone board.

Installed by :func:`install_sensors` (declared in :mod:`sensors.part`). When
``[sensors] enabled``, the background job :func:`sensors_job` (one process per database:
:mod:`fieldkit.background`) subscribes to every declared sensor's topic, folds in the
readings pushed to any process, and advances the zone states a few times a second.
Routes::

    GET  /api/sensors            zone states, sensor health and the broker connection
    GET  /api/sensors/readings   stored readings, newest first (?sensor=, ?limit= 1-10000)
    POST /sensors/readings       readings pushed by systems without MQTT; bearer push token
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from fieldkit import wirejson
from fieldkit.appkeys import CONFIG, WORKER
from fieldkit.background import elsewhere
from fieldkit.config import Config
from fieldkit.errors import FieldkitError, IngestError, InvalidActionError
from fieldkit.hlc import wall_ms
from fieldkit.query import query_limit
from fieldkit.tasks import cancel_and_wait
from fieldkit.views import ErrorView, PushView, SensorReadingList, SensorsView, respond
from fieldkit.worker import LogWorker
from sensors.cameras import camera_sights
from sensors.config import SensorsSection
from sensors.incidents import SensorWatch
from sensors.mqtt import BrokerSettings, Delivery, MqttIngest, tls_context
from sensors.readings import (
    Reading,
    last_id,
    parse_payload,
    pushed_since,
    recent_readings,
    store_readings,
)
from sensors.secret import read_secret
from sensors.transit import TransitWatch
from sensors.zones import ZoneBoard

logger = logging.getLogger(__name__)

TICK_S = 0.1
"""How often zone states advance (a state takes at most this long after its dwell)."""
MAX_PUSH = 1000
LOG_EVERY_S = 60.0
SETTLE_MS = 5000
"""How long a pushed reading's id may take to commit after it arrived (see :class:`Pushed`)."""
CAMERA_EVERY = 10
"""Ticks between reads of the cameras' zone windows (they close every few seconds)."""


@dataclass
class SensorsRuntime:
    """The running sensors part (empty when disabled)."""

    settings: SensorsSection
    board: ZoneBoard
    ingest: MqttIngest | None = None
    transit: TransitWatch | None = None
    push_token: str | None = None
    stored: int = 0
    duplicates: int = 0
    running: bool = False
    """Whether this process runs the zones (:func:`sensors_job`)."""
    _logged: dict[str, float] = field(default_factory=dict)

    def warn(self, key: str, message: str) -> None:
        """Log ``message`` at most once a minute per ``key``: a sensor sending garbage
        twenty times a second must not drown the log."""
        now = time.monotonic()
        if now - self._logged.get(key, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged[key] = now
            logger.warning("%s", message)


SENSORS = web.AppKey("sensors", SensorsRuntime)


def install_sensors(app: web.Application) -> None:
    """Add the sensors context and routes to the node's API app."""
    config = app[CONFIG]
    settings = config.section(SensorsSection)
    runtime = app[SENSORS] = SensorsRuntime(settings, ZoneBoard(settings, wall_ms()))
    app.add_routes([web.get("/api/sensors", get_sensors),
                    web.get("/api/sensors/readings", get_readings)])
    if not settings.enabled:
        return
    runtime.push_token = read_secret(config, settings.push_token, settings.push_token_file,
                                     "sensors -> push_token_file")
    app.add_routes([web.post("/sensors/readings", post_readings)])


def broker_settings(config: Config) -> BrokerSettings:
    mqtt = config.section(SensorsSection).mqtt
    password = read_secret(config, mqtt.password, mqtt.password_file,
                           "sensors -> mqtt -> password_file")
    tls = tls_context(str(config.path(mqtt.ca_file))) if mqtt.ca_file is not None else None
    return BrokerSettings(mqtt.host, mqtt.port, mqtt.client_id or f"fieldkit-{config.node.name}",
                          mqtt.username, password, tls, mqtt.reconnect_max_s)


@contextlib.asynccontextmanager
async def sensors_job(app: web.Application) -> AsyncIterator[None]:
    """The MQTT subscription, the transit poller and the zones: a background job (one
    process per database), or every reading would be taken and every zone judged once
    per API worker. Readings pushed to any process reach the zones through the store."""
    runtime, worker, config = app[SENSORS], app[WORKER], app[CONFIG]
    if not runtime.settings.enabled:
        yield
        return
    by_topic = {s.mqtt_topic: s for s in runtime.settings.sensors}

    async def handle(deliveries: list[Delivery]) -> None:
        now = wall_ms()
        readings: list[Reading] = []
        for d in deliveries:
            sensor = by_topic.get(d.topic)
            if sensor is None:
                runtime.warn(d.topic, f"sensors: message on {d.topic!r}, which no declared "
                             "sensor publishes on; ignored")
                continue
            try:
                readings.append(parse_payload(sensor, d.payload, now, "mqtt", _skew(runtime)))
            except IngestError as exc:
                runtime.board.reject(sensor.id, str(exc))
                runtime.warn(sensor.id, f"sensors: {exc}; reading dropped")
        await accept(runtime, worker, readings)

    watch = SensorWatch(worker, runtime.board)
    pushed = Pushed(await worker.call(last_id, worker.log.store.conn))
    tasks = [asyncio.create_task(_advance(runtime, watch, pushed), name="sensors-zones")]
    if runtime.settings.mqtt.enabled and by_topic:
        runtime.ingest = MqttIngest(broker_settings(config), sorted(by_topic), handle)
        await runtime.ingest.start()
    if runtime.settings.transit.stations:
        runtime.transit = TransitWatch(config, worker, runtime.board)
        await runtime.transit.start()
    runtime.running = True
    try:
        yield
    finally:
        runtime.running = False
        if runtime.transit is not None:
            await runtime.transit.stop()
        if runtime.ingest is not None:
            await runtime.ingest.stop()
        for task in tasks:
            await cancel_and_wait(task)


def _skew(runtime: SensorsRuntime) -> int:
    return int(runtime.settings.max_clock_skew_s * 1000)


async def accept(runtime: SensorsRuntime, worker: LogWorker, readings: list[Reading]) -> int:
    """Commit ``readings``, then fold them into the zones; returns how many were new."""
    if not readings:
        return 0
    new = await worker.call(_store, worker, readings)
    runtime.stored += new
    runtime.duplicates += len(readings) - new
    for reading in readings:
        runtime.board.apply(reading)
    return new


def _store(worker: LogWorker, readings: list[Reading]) -> int:
    with worker.log.store.write() as conn:
        return store_readings(conn, readings)


@dataclass
class Pushed:
    """Follows the readings pushed over HTTP to any API process, by id. On PostgreSQL ids
    can commit out of order across processes, so an id stays open (re-read, folded in
    once) until its reading is :data:`SETTLE_MS` old."""

    after: int
    """Every pushed reading with an id up to this one is folded in (or predates the job)."""
    folded: set[int] = field(default_factory=set)
    """Ids above :attr:`after` already folded in."""

    def fold(self, runtime: SensorsRuntime, rows: list[tuple[int, Reading]], now: int) -> None:
        for id_, reading in rows:
            if id_ not in self.folded:
                self.folded.add(id_)
                runtime.stored += 1
                runtime.board.apply(reading)
        settled = [id_ for id_, reading in rows if reading.received_ms < now - SETTLE_MS]
        if settled:
            self.after = max(settled)
            self.folded = {id_ for id_ in self.folded if id_ > self.after}


async def _advance(runtime: SensorsRuntime, watch: SensorWatch, pushed: Pushed) -> None:
    await watch.load()
    worker, names = watch.worker, list(runtime.board.zones)
    for tick in itertools.count():
        now = wall_ms()
        try:
            pushed.fold(runtime, await worker.call(pushed_since, worker.log.store.conn,
                                                   pushed.after), now)
            if tick % CAMERA_EVERY == 0:
                runtime.board.see(await worker.call(camera_sights, worker.log.store.conn,
                                                    names, now))
            for zone in runtime.board.evaluate(now):
                logger.info("zone %s: %s", zone.section.name, zone.state.label)
            await watch.step(now)
        except FieldkitError:  # a busy or full store: try again next tick, keep measuring
            logger.exception("sensors: cannot read the cameras or write the zone incidents")
        await asyncio.sleep(TICK_S)  # the state machine's clock


async def get_sensors(request: web.Request) -> web.Response:
    runtime = request.app[SENSORS]
    if runtime.settings.enabled and not runtime.running:
        raise elsewhere("the sensors' zones")
    body = runtime.board.snapshot(wall_ms())
    body.update(enabled=runtime.settings.enabled, stored=runtime.stored,
                duplicates=runtime.duplicates,
                mqtt=runtime.ingest.snapshot() if runtime.ingest else {"state": "disabled"},
                transit=runtime.transit.snapshot() if runtime.transit else None)
    return respond(SensorsView.model_validate(body))


async def get_readings(request: web.Request) -> web.Response:
    limit = query_limit(request)
    worker = request.app[WORKER]
    rows = await worker.call(recent_readings, worker.log.store.conn,
                             request.query.get("sensor"), limit)
    return respond(SensorReadingList.model_validate(rows))


async def post_readings(request: web.Request) -> web.Response:
    """One reading ``{"sensor", "value", "at"?}`` or a list of them: all or nothing."""
    runtime = request.app[SENSORS]
    expected = f"Bearer {runtime.push_token}".encode() if runtime.push_token else None
    given = request.headers.get("Authorization", "").encode()
    if expected is None or not hmac.compare_digest(given, expected):
        return respond(ErrorView(error="missing or wrong push token"), 401)
    try:
        body = wirejson.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidActionError(f"body is not JSON: {exc}") from exc
    items = body if isinstance(body, list) else [body]
    if not 1 <= len(items) <= MAX_PUSH:
        raise InvalidActionError(f"{len(items)} readings: send 1..{MAX_PUSH} per request")
    now = wall_ms()
    readings = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("sensor"), str):
            raise InvalidActionError(f"reading {i}: an object with a 'sensor' id is expected")
        track = runtime.board.tracks.get(item["sensor"])
        if track is None:
            raise InvalidActionError(f"reading {i}: unknown sensor {item['sensor'][:64]!r}")
        try:
            readings.append(parse_payload(track.section, item, now, "http", _skew(runtime)))
        except IngestError as exc:
            raise InvalidActionError(f"reading {i}: {exc}") from exc
    worker = request.app[WORKER]
    new = await worker.call(_store, worker, readings)  # the zones follow the store
    runtime.duplicates += len(readings) - new
    return respond(PushView(stored=new, duplicates=len(readings) - new), 201)
