"""Background sync: a session with each peer every interval while it answers, with
exponential backoff (and jitter) while it does not, and a session with every reachable
peer soon after the log grows (:meth:`SyncScheduler.written`), so a new incident travels
as fast as the link allows instead of waiting for the interval.

Peers come from a callable (config peers, HQ and what discovery found), read every
round, so discovered peers join without a restart. One session at a time: a truck's link
is narrow, and a single writer keeps the store calm.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from fieldkit.errors import FieldkitError
from fieldkit.feed import EventFeed
from fieldkit.tasks import cancel_and_wait, wait_event
from sync.config import SyncSection
from sync.session import SessionReport, SyncEngine, Transport

logger = logging.getLogger(__name__)

#: A write after a quiet spell starts a session at once; writes within this long of that
#: session's start wait for it to end and then go out together in the next one, so a
#: burst (an incident and its snapshot, a batch applied from a peer) costs two sessions
#: at most, not one per event.
PUSH_SPACING_S = 0.1


class SchedulerState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass
class _Due:
    at: float = 0.0
    """Monotonic time of the next session by the interval (or the backoff)."""
    soon: float = math.inf
    """Monotonic time of the session a write asked for."""
    started: float = -math.inf
    """Monotonic time the last session started."""
    failures: int = 0

    @property
    def next(self) -> float:
        return min(self.at, self.soon)


class SyncScheduler:
    """Runs sessions in the background. ``async start()``/``stop()``; stop is idempotent.

    :param engine: this node's sync engine.
    :param transport: ``transport(name, url)`` makes a transport to a peer.
    :param peers: current peers, name -> URL.
    :param settings: intervals, backoff and whether writes start sessions.
    :param feed: the node's live feed; its growth calls :meth:`written`.
    """

    def __init__(self, engine: SyncEngine, transport: Callable[[str, str], Transport],
                 peers: Callable[[], dict[str, str]], settings: SyncSection,
                 feed: EventFeed | None = None) -> None:
        self._engine = engine
        self._transport = transport
        self._peers = peers
        self._settings = settings
        self._feed = feed
        self._due: dict[str, _Due] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self.state = SchedulerState.NEW
        self.last: dict[str, SessionReport | str] = {}
        self._rng = random.Random()  # noqa: S311 (jitter, not security)

    def _set_state(self, state: SchedulerState) -> None:
        logger.info("sync scheduler: %s -> %s", self.state, state)
        self.state = state

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sync-scheduler")
            if self._feed is not None and self._settings.push_on_write:
                self._follower = asyncio.create_task(self._follow(self._feed),
                                                     name="sync-follow-writes")
            self._set_state(SchedulerState.RUNNING)

    async def stop(self) -> None:
        task, self._task = self._task, None
        follower, self._follower = self._follower, None
        await cancel_and_wait(follower)
        if task is not None:
            await cancel_and_wait(task)
            self._set_state(SchedulerState.STOPPED)

    def wake(self) -> None:
        """Sync with every peer now (e.g. a peer was discovered, or a link came up)."""
        for due in self._due.values():
            due.at = 0.0
        self._wake.set()

    def written(self) -> None:
        """The log grew: sync with every peer that answered last time, now or (after a
        session that started less than :data:`PUSH_SPACING_S` ago) right after that.
        Peers in backoff keep their backoff: a write must not make the node hammer a
        dead link."""
        now = time.monotonic()
        for name in self._peers():
            due = self._due.setdefault(name, _Due())
            if due.failures == 0:
                due.soon = min(due.soon, max(now, due.started + PUSH_SPACING_S))
        self._wake.set()

    async def _follow(self, feed: EventFeed) -> None:
        """Call :meth:`written` whenever the feed's cursor moves: local writes wake the
        feed at once, events applied from peers too (so a relay forwards them), and
        writes by other processes are seen at the feed's next poll."""
        seen = feed.latest
        while feed.running:
            if await feed.wait_past(seen, timeout=60.0):
                seen = feed.latest
                self.written()

    async def sync_now(self, name: str) -> SessionReport:
        """One session with ``name`` now; raises what the session raised."""
        peers = self._peers()
        if name not in peers:
            raise FieldkitError(f"no peer {name!r}; known peers: {', '.join(sorted(peers))}")
        return await self._engine.run_session(self._transport(name, peers[name]))

    async def _run(self) -> None:
        while True:
            await self._engine.refresh_roster()
            peers = self._peers()
            now = time.monotonic()
            for name, url in sorted(peers.items()):
                due = self._due.setdefault(name, _Due())
                if due.next > now:
                    continue
                due.soon = math.inf  # this session carries every write made before it
                due.started = time.monotonic()
                await self._one(name, url, due)
            waits = [d.next for n, d in self._due.items() if n in peers]
            delay = max(0.0, min(waits, default=time.monotonic() + self._settings.interval_s)
                        - time.monotonic())
            self._wake.clear()
            await wait_event(self._wake, max(delay, 0.01))

    async def _one(self, name: str, url: str, due: _Due) -> None:
        try:
            report = await self._engine.run_session(self._transport(name, url))
        except Exception as exc:  # a failed session must never stop background sync
            if not isinstance(exc, FieldkitError):
                logger.exception("sync with %s crashed", name)
            due.failures += 1
            backoff = min(self._settings.backoff_max_s,
                          self._settings.interval_s * 2 ** min(due.failures, 20))
            due.at = time.monotonic() + backoff * self._rng.uniform(0.5, 1.0)
            self.last[name] = str(exc)
            logger.info("sync with %s failed (%d in a row), next in %.1f s: %s",
                        name, due.failures, due.at - time.monotonic(), exc)
            return
        due.failures = 0
        due.at = time.monotonic() + self._settings.interval_s
        self.last[name] = report
