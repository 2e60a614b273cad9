"""The demo's story as a timeline a person can read: what the truck's live event stream
says (its crew, its camera and drone, and what the other truck's crew wrote, arriving
by sync) and when HQ holds each new incident, one line each::

     0:01  T01  NEW           Lost child reported at tent 12  [call, severity 2]
     0:01  HQ   received      Lost child reported at tent 12  (0.05 s after T01 wrote it)

Both come from the nodes' ``/api/events/stream``, as the console reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from fieldkit.hlc import to_wall_ms, wall_ms
from fieldkit.views.parts import CamerasView, ZoneView

Echo = Callable[[str], None]
#: A camera re-titles its incident as the scene changes; one line per this many seconds
#: per incident keeps the story readable (the board always shows the latest).
UPDATE_EVERY_S = 20.0
_TEXT = 72


def _cut(text: str, width: int = _TEXT) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


class Timeline:
    """Counts what the truck's stream delivers and, with ``echo``, tells it.

    :param truck: the demo truck's name (events from other origins arrived by sync).
    :param started: monotonic time of the demo's start (the timeline's 0:00).
    """

    def __init__(self, truck: str, started: float, echo: Echo | None) -> None:
        self.truck = truck
        self.kinds: Counter[str] = Counter()
        self.changed = asyncio.Condition()
        self._started = started
        self._echo = echo
        self._titles: dict[str, str] = {}
        self._told: dict[str, float] = {}

    def say(self, who: str, what: str, text: str) -> None:
        if self._echo is None:
            return
        elapsed = int(time.monotonic() - self._started)
        self._echo(f"{elapsed // 60:>2}:{elapsed % 60:02}  {who:<4} {what:<13} {text}")

    async def follow_truck(self, http: aiohttp.ClientSession, url: str) -> None:
        """Tell the truck's events, and count them (the summary's "delivered")."""
        async for event in _stream(http, url):
            async with self.changed:
                self.kinds[event["kind"]] += 1
                self.changed.notify_all()
            self.tell(event)

    async def follow_hq(self, http: aiohttp.ClientSession, url: str, hq: str) -> None:
        """Tell each incident HQ (named ``hq``) comes to hold from the trucks, and how
        long after it was written."""
        async for event in _stream(http, url):
            if event["kind"] != "create" or event["origin"] == hq:
                continue
            lag = max(0, wall_ms() - to_wall_ms(event["hlc"])) / 1000
            self.say("HQ", "received", f"{_cut(event['payload'].get('title', ''), 60)}  "
                                       f"({lag:.2f} s after {event['origin']} wrote it)")

    async def follow_cameras(self, http: aiohttp.ClientSession, url: str,
                             every_s: float = 2.0) -> None:
        """Tell each mast camera's state as it changes (it is ``starting`` while its
        models and scene are prepared), and each zone's estimate when its level changes
        (at most every :data:`UPDATE_EVERY_S`: an estimate on a boundary flips), with the
        figures and the band the analytics give."""
        states: dict[str, str] = {}
        levels: dict[tuple[str, str], str] = {}
        told: dict[tuple[str, str], float] = {}
        while True:
            async with http.get(url + "/api/cameras") as response:
                cameras = CamerasView.model_validate(await response.json()).root
            for name, camera in sorted(cameras.items()):
                if camera.kind == "mast" and states.get(name) != camera.state:
                    states[name] = camera.state
                    self.say(self.truck, "camera", f"{name} {camera.state}")
                for zone in camera.zones:
                    key = (name, zone.zone)
                    if levels.get(key) != zone.level and (
                            key not in told or time.monotonic() - told[key] >= UPDATE_EVERY_S):
                        levels[key], told[key] = zone.level, time.monotonic()
                        self.say(self.truck, "zone", _zone_line(name, zone))
            await asyncio.sleep(every_s)  # polling the camera health, as the console does

    async def delivered(self, total: int, timeout_s: float) -> None:
        """Wait (bounded) until the stream has delivered ``total`` events."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s), self.changed:
                await self.changed.wait_for(lambda: self.kinds.total() >= total)

    def tell(self, event: dict[str, Any]) -> None:
        """One line (or none) for an event of the truck's stream (its wire form)."""
        payload, incident, kind = event["payload"], event["incident"], event["kind"]
        who = event["origin"]
        if kind == "create":
            self._titles[incident] = payload.get("title", "")
            self._told[incident] = time.monotonic()
            where = payload.get("location") or {}
            source = payload.get("source", "")
            if where.get("camera"):
                source += f" {where['camera']}"
            synced = f", by sync from {who}" if who != self.truck else ""
            self.say(who, "NEW", f"{_cut(self._titles[incident], 60)}  "
                                 f"[{source}, severity {payload.get('severity')}{synced}]")
            if payload.get("description") and self._echo is not None:
                self._echo(f"{'':26}{_cut(payload['description'], 90)}")
            return
        title = _cut(self._titles.get(incident, incident[-8:]), 56)
        if kind == "status":
            reason = f"  ({_cut(payload['reason'], 40)})" if payload.get("reason") else ""
            self.say(who, str(payload.get("status", "")).replace("_", " "), title + reason)
        elif kind == "assign":
            self.say(who, "assigned", f"{payload.get('agency')} {payload.get('unit')} to "
                                      f"{title}")
        elif kind == "note":
            self.say(who, "note", f"{title}: \"{_cut(payload.get('text', ''), 60)}\"")
        elif kind == "set" and payload.get("field") in ("title", "severity"):
            if payload["field"] == "title":
                self._titles[incident] = str(payload.get("value"))
            if time.monotonic() - self._told.get(incident, 0.0) >= UPDATE_EVERY_S:
                self._told[incident] = time.monotonic()
                self.say(who, "updated", f"{_cut(self._titles[incident], 56)}  "
                                         f"({payload['field']} now {payload.get('value')})")


def _zone_line(camera: str, zone: ZoneView) -> str:
    band = f"{zone.band[0]:.1f}-{zone.band[1]:.1f}" if zone.band is not None else ""
    how = ", ".join(part for part in (band, zone.method or "") if part)
    return (f"{camera} {zone.zone}: {zone.density:.1f} persons/m2"
            + (f" ({how})" if how else "")
            + f", level {zone.level}, {zone.count:.0f} people"
            + (f"; uncertain: {_cut(zone.uncertain, 50)}" if zone.uncertain else ""))


async def _stream(http: aiohttp.ClientSession, url: str) -> AsyncIterator[dict[str, Any]]:
    """Events of a node's live stream, from its first."""
    async with http.get(url + "/api/events/stream",
                        timeout=aiohttp.ClientTimeout(total=None)) as response:
        async for line in response.content:
            if line.startswith(b"data: "):
                yield json.loads(line[6:])
