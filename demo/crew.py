"""The demo's crews: a short script played through the trucks' own HTTP APIs, as the
console would. A call and a heat casualty first, then the crew answering what the ramp
camera raises (the person down, the crowd over capacity), then an unattended bag: a
handful of incidents over the first minutes, so a crew can follow every one of them.

Steps that act on a camera incident wait (and the rest of the script goes on) until the
camera has raised it; which incidents the camera raises, and with what figures, is the
analytics' business: the script only answers them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from typing import Any

import aiohttp

from fieldkit.analytics.demo import DEMO_CAMERA
from fieldkit.errors import FieldkitError

logger = logging.getLogger(__name__)

#: Around the Jamarat bridge, Mina: the kind of route fieldkit is for.
ORIGIN = (21.4225, 39.8726)
CAMERA = "camera:"  # prefix of a step's incident: the camera's open incident of that kind
_RETRY_S = 2.0


@dataclasses.dataclass(frozen=True)
class Step:
    """One thing a crew does: at ``at_s`` seconds, on ``truck``, to ``incident`` (a name
    the script gives it, or ``camera:KIND``)."""

    at_s: float
    truck: str
    incident: str
    action: str
    """``create``, ``assign``, ``note`` or a status (``acknowledged``, ``dispatched``...)."""
    arg: Any = None


def _new(title: str, kind: str, severity: int, source: str) -> dict[str, Any]:
    return {"title": title, "kind": kind, "severity": severity, "source": source}


def script(first: str, second: str) -> list[Step]:
    """The story, for trucks ``first`` (with the camera and drone) and ``second``."""
    down, crowd = f"{CAMERA}person_down", f"{CAMERA}crowd_density"
    return sorted([
        Step(1, first, "child", "create",
             _new("Lost child reported at tent 12", "lost_person", 2, "call")),
        Step(4, second, "heat", "create",
             _new("Pilgrim collapsed, heat stroke suspected, checkpoint 3", "medical", 3,
                  "crew")),
        Step(7, first, "child", "acknowledged"),
        Step(8, first, "child", "assign", ("police", "P-3")),
        Step(11, second, "heat", "acknowledged"),
        Step(12, second, "heat", "assign", ("medical", "M-7")),
        Step(13, second, "heat", "dispatched"),
        Step(20, first, down, "acknowledged"),
        Step(21, first, down, "assign", ("medical", "M-12")),
        Step(22, first, down, "dispatched"),
        Step(24, first, crowd, "acknowledged"),
        Step(26, first, crowd, "note", "relief gate on the ramp opened, stewards slowing the "
                                       "flow"),
        Step(30, second, "heat", "on_scene"),
        Step(36, first, down, "on_scene"),
        Step(37, first, down, "note", "M-12 on scene: conscious, breathing, leg injury"),
        Step(45, first, "child", "note", "child found at the lost persons tent, family called"),
        Step(46, first, "child", "resolved"),
        Step(55, first, "bag", "create",
             _new("Unattended bag at exit 2", "suspicious_object", 3, "crew")),
        Step(58, first, "bag", "acknowledged"),
        Step(60, first, "bag", "assign", ("police", "EOD-1")),
        Step(75, second, "heat", "resolved"),
        Step(90, first, down, "note", "patient taken to the Mina clinic"),
        Step(91, first, down, "resolved"),
        Step(110, first, "bag", "note", "owner found, bag checked and returned"),
        Step(111, first, "bag", "resolved"),
    ], key=lambda s: s.at_s)


class Crews:
    """Plays :func:`script` against each truck's API (``urls``: truck -> base URL)."""

    def __init__(self, http: aiohttp.ClientSession, urls: dict[str, str], seed: int) -> None:
        self._http = http
        self._urls = urls
        self._rng = random.Random(seed)  # noqa: S311 (where incidents are, in a demo)
        self._ids: dict[str, str] = {}

    async def play(self, steps: list[Step], deadline: float | None) -> None:
        """Run ``steps`` at their times (from now) until done or ``deadline`` (monotonic).
        A step on an incident that does not exist yet is retried a little later."""
        started = time.monotonic()
        pending = list(steps)
        while pending and (deadline is None or time.monotonic() < deadline):
            step = pending.pop(0)
            wait = started + step.at_s - time.monotonic()
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
            await asyncio.sleep(max(0.0, wait))  # the script's pacing, not synchronisation
            if deadline is not None and time.monotonic() >= deadline:
                return
            if not await self._do(step):  # this incident's steps wait, in their order
                pending = sorted(
                    [dataclasses.replace(s, at_s=s.at_s + _RETRY_S)
                     if s.incident == step.incident else s for s in [step, *pending]],
                    key=lambda s: s.at_s)

    async def _do(self, step: Step) -> bool:
        """Act; False when the step's incident does not exist (yet)."""
        if step.action == "create":
            body = {**step.arg, "location": self._near()}
            created = await self._call(step.truck, "POST", "/api/incidents", body)
            self._ids[step.incident] = created["id"]
            return True
        incident = await self._find(step)
        if incident is None:
            return False
        path = f"/api/incidents/{incident}"
        if step.action == "assign":
            agency, unit = step.arg
            await self._call(step.truck, "POST", f"{path}/assignments",
                             {"agency": agency, "unit": unit})
        elif step.action == "note":
            await self._call(step.truck, "POST", f"{path}/notes", {"text": step.arg})
        else:
            await self._call(step.truck, "POST", f"{path}/status", {"status": step.action})
        return True

    async def _find(self, step: Step) -> str | None:
        if not step.incident.startswith(CAMERA):
            return self._ids.get(step.incident)
        if step.incident in self._ids:
            return self._ids[step.incident]
        kind = step.incident.removeprefix(CAMERA)
        incidents = await self._call(step.truck, "GET", "/api/incidents")
        for incident in incidents:
            if incident["kind"] == kind and incident["status"] == "new" \
                    and (incident.get("location") or {}).get("camera") == DEMO_CAMERA:
                self._ids[step.incident] = incident["id"]
                return str(incident["id"])
        return None

    def _near(self) -> dict[str, float]:
        return {"lat": round(ORIGIN[0] + self._rng.uniform(-0.003, 0.003), 6),
                "lon": round(ORIGIN[1] + self._rng.uniform(-0.003, 0.003), 6),
                "accuracy_m": self._rng.choice([5.0, 10.0, 25.0])}

    async def _call(self, truck: str, method: str, path: str,
                    body: dict[str, Any] | None = None) -> Any:
        async with self._http.request(method, self._urls[truck] + path, json=body) as response:
            data = await response.json()
            if response.status >= 400:
                raise FieldkitError(f"{truck} {method} {path}: {response.status} "
                                   f"{data.get('error')}")
            return data
