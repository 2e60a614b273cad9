"""The node's drone telemetry service: every configured link, a sampling loop that stores
vehicle state and turns alert rules into incidents, and the aiohttp wiring.

``setup(app)`` is what :func:`fieldkit.api.create_app` calls; the background job
:func:`telemetry_job` (one process per database: :mod:`fieldkit.background`) starts the
links and stops them on shutdown. Two read-only routes: ``GET /api/drones`` (live state
and link counters) and ``GET /api/drones/{vehicle}/ground?u=&v=[&at=]`` (where an
image pixel lies on the ground, at a video frame's time ``at`` in Unix seconds, node
clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict

from aiohttp import web

from drone.config import DroneCameraSection, DroneLinkSection, DronesSection
from drone.georef import CameraModel, GeorefError, GroundPoint, Uncertainty, project
from drone.link import DroneLink
from drone.receiver import LinkStats, Receiver
from drone.record import Outcome, load_open_alerts, prune_samples, record
from drone.rules import AlertBook, AlertRules, stale_fields
from drone.signing import SigningKey
from drone.state import TelemetrySample
from drone.transport import make_transport
from fieldkit.appkeys import CONFIG, FEED, WORKER
from fieldkit.background import Slot
from fieldkit.config import Config
from fieldkit.errors import IngestError, InvalidActionError, NotFoundError
from fieldkit.tasks import cancel_and_wait
from fieldkit.views import DronesView, GroundPointView, respond
from fieldkit.worker import LogWorker

logger = logging.getLogger(__name__)

DROP_REPORT_S = 30.0
PRUNE_EVERY_S = 600.0


def camera_model(section: DroneCameraSection) -> CameraModel:
    return CameraModel(width_px=section.width_px, height_px=section.height_px,
                       hfov_deg=section.hfov_deg, mount_pitch_deg=section.mount_pitch_deg)


def signing_key(config: Config, link: DroneLinkSection) -> SigningKey | None:
    if link.signing_key is not None:
        return SigningKey.from_text(link.signing_key.get_secret_value())
    if link.signing_key_file is not None:
        return SigningKey.from_file(config.path(link.signing_key_file))
    return None


def build_link(config: Config, settings: DroneLinkSection,
               clock: Callable[[], float] = time.time) -> DroneLink:
    """A link (not started) with its receiver, as ``config`` describes it, reading the
    node's wall ``clock``."""
    drones = config.section(DronesSection)
    key = signing_key(config, settings)
    mine = [v for v in drones.vehicles if v.link == settings.name]
    receiver = Receiver(
        settings.name, default_camera=camera_model(drones.camera),
        names={v.system_id: v.name for v in mine},
        cameras={v.system_id: camera_model(v.camera) for v in mine if v.camera is not None},
        key=key, datagrams=settings.kind in ("udp_listen", "udp_connect"), clock=clock)
    return DroneLink(settings, receiver, make_transport(settings), key=key, clock=clock)


class DroneService:
    """Runs the drone links of ``config`` and records what they see through ``worker``.

    :param on_change: called after incidents were raised or changed (wakes the live feed).
    """

    def __init__(self, config: Config, worker: LogWorker,
                 on_change: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.links = {s.name: build_link(config, s, clock)
                      for s in config.section(DronesSection).links}
        self._worker = worker
        self._on_change = on_change
        self._clock = clock
        self._book = AlertBook(AlertRules(config.section(DronesSection)))
        self._task: asyncio.Task[None] | None = None
        self._ticked = asyncio.Condition()
        self.latest: dict[str, TelemetrySample] = {}
        self._dropped: dict[str, int] = {}
        self._drop_warned: dict[str, float] = {}
        self._pruned_at = float("-inf")
        self.ticks = 0

    async def start(self) -> None:
        self._book.open = await self._worker.call(load_open_alerts, self._worker.log.store)
        started: list[DroneLink] = []
        try:
            for link in self.links.values():
                await link.start()
                started.append(link)
        except BaseException:
            for link in reversed(started):
                await link.stop()
            raise
        if self.links:
            self._task = asyncio.create_task(self._run(), name="fieldkit-drone-sampler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        for link in reversed(self.links.values()):
            await link.stop()

    async def _run(self) -> None:
        period = self.config.section(DronesSection).sample_s
        while True:
            try:
                await self.tick()
            except Exception:  # a failed write must not end sampling; the next tick retries
                logger.exception("drone sampling failed")
            await asyncio.sleep(period)

    async def tick(self) -> Outcome:
        """Sample every vehicle, store the samples with new telemetry, act on alerts (once
        per period)."""
        now = self._clock()
        samples = [s for link in self.links.values() for s in link.samples()]
        actions = self._book.step(samples, now)
        # Every vehicle is judged (a silent one loses its link), but only new telemetry
        # is stored: a silent vehicle must not look freshly sampled.
        outcome = await self._worker.call(record, self._worker.log,
                                          [s for s in samples if s.fresh], actions)
        for action, incident in outcome.incidents:
            self._book.done(action, incident)
        self.latest.update((s.vehicle, s) for s in samples)
        self._report_drops(now)
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            cutoff = round((now - self.config.section(DronesSection).keep_samples_h * 3600) * 1000)
            await self._worker.call(prune_samples, self._worker.log, cutoff)
        if outcome.incidents:
            self._on_change()
        async with self._ticked:
            self.ticks += 1
            self._ticked.notify_all()
        return outcome

    def _report_drops(self, now: float) -> None:
        """Warn (at most every DROP_REPORT_S per link) when packets failed the signature
        check: usually a drone whose signing is off or set with another key."""
        for name, link in self.links.items():
            signing = link.stats().signing
            if signing is None or signing.dropped <= self._dropped.get(name, 0):
                continue
            if now - self._drop_warned.get(name, float("-inf")) < DROP_REPORT_S:
                continue
            fresh = signing.dropped - self._dropped.get(name, 0)
            logger.warning(
                "drone link %s: dropped %d packet(s) that were not correctly signed "
                "(so far: %d unsigned, %d bad signature, %d replayed)", name, fresh,
                signing.unsigned, signing.bad_signature, signing.replayed)
            self._dropped[name] = signing.dropped
            self._drop_warned[name] = now

    async def wait_until(self, predicate: Callable[[DroneService], bool],
                         timeout: float) -> None:
        """Wait (up to ``timeout`` s) for a tick after which ``predicate`` holds."""
        async with asyncio.timeout(timeout), self._ticked:
            await self._ticked.wait_for(lambda: predicate(self))

    def stats(self) -> dict[str, LinkStats]:
        return {name: link.stats() for name, link in self.links.items()}

    def locate(self, vehicle: str, u: float, v: float, at: float | None = None,
               sigma: Uncertainty = Uncertainty()) -> GroundPoint:  # noqa: B008
        """Where pixel (u, v) of ``vehicle``'s camera lay on the ground at time ``at``
        (Unix seconds, e.g. a video frame's capture time; None: now)."""
        for link in self.links.values():
            with link.receiver.lock:
                state = next((s for s in link.receiver.vehicles.values()
                              if s.name == vehicle), None)
                camera = state.camera_model() if state else None
                pose = None if state is None else (
                    state.pose() if at is None else state.history.at(at))
            if state is None:
                continue
            if pose is None or camera is None:
                raise GeorefError(f"drone {vehicle}: no pose known"
                                  + ("" if at is None else f" near time {at:.3f}"))
            return project(pose, camera, u, v,
                           ground_elevation_m=self.config.section(DronesSection).ground_elevation_m,
                           sigma=sigma)
        raise NotFoundError(f"no drone {vehicle!r}")


# --- aiohttp wiring ----------------------------------------------------------------------

DRONES = web.AppKey("drones", Slot[DroneService])


def setup(app: web.Application) -> None:
    """Register the drone routes on the node's API app (:func:`telemetry_job` runs the
    links).

    Signing keys are read now, while the app is built: a missing key file stops the node
    before its database is opened (or created and migrated)."""
    config = app[CONFIG]
    for link in config.section(DronesSection).links:
        signing_key(config, link)
    app[DRONES] = Slot("drone telemetry")
    app.router.add_get("/api/drones", list_drones)
    app.router.add_get("/api/drones/{vehicle}/ground", ground_point)


@contextlib.asynccontextmanager
async def telemetry_job(app: web.Application) -> AsyncIterator[None]:
    """The links and the sampling loop: a background job (one process per database), or
    every API worker would bind the links' ports and store every sample."""
    service = DroneService(app[CONFIG], app[WORKER], on_change=app[FEED].wake)
    try:
        await service.start()
    except IngestError:
        await service.stop()
        raise
    app[DRONES].value = service
    try:
        yield
    finally:
        app[DRONES].value = None
        await service.stop()


async def list_drones(request: web.Request) -> web.Response:
    service = request.app[DRONES].get()
    settings = service.config.section(DronesSection)
    return respond(DronesView.model_validate({
        # "name" repeats "vehicle": older consoles key their rows by name.
        "vehicles": [{"name": s.vehicle, **asdict(s), "stale": stale_fields(s, settings)}
                     for s in service.latest.values()],
        "links": {name: asdict(stats) for name, stats in service.stats().items()},
    }))


async def ground_point(request: web.Request) -> web.Response:
    q = request.query
    try:
        u, v = float(q["u"]), float(q["v"])
        at = float(q["at"]) if "at" in q else None
    except (KeyError, ValueError) as exc:
        raise InvalidActionError("give pixel coordinates ?u=X&v=Y (numbers), and "
                                 "optionally at=UNIX_SECONDS") from exc
    point = request.app[DRONES].get().locate(request.match_info["vehicle"], u, v, at)
    return respond(GroundPointView.model_validate(asdict(point)))
