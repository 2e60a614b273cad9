"""Writing drone telemetry and alerts to the node's database.

These functions run on the store thread (through :meth:`LogWorker.call`). Samples go to
``drone_samples`` in one transaction; alerts become incidents through the incident log's
alert mechanism (:mod:`fieldkit.alerts`, subject ``drone:VEHICLE``; kind ``drone``,
source ``drone``, linked to the drone by name), which keeps one open alert per vehicle
and rule, so a restarted node does not raise the same condition twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields

from drone.rules import Action, AlertAction, OpenAlert
from drone.state import TelemetrySample
from fieldkit.alerts import Alert, Change, clear, open_alerts, raise_or_update
from fieldkit.errors import FieldkitError, StoreError
from fieldkit.log import IncidentLog
from fieldkit.storeapi import LogStore
from fieldkit.vocabulary import IncidentKind, LinkTarget, Source

logger = logging.getLogger(__name__)

_SAMPLE_FIELDS = [f.name for f in fields(TelemetrySample)]
#: Not stored: the accuracy (derived from HDOP) and ``fresh`` (every stored sample is).
_NOT_STORED = ("gps_accuracy_m", "fresh")
_COLUMNS = [("at_ms" if n == "at" else n) for n in _SAMPLE_FIELDS if n not in _NOT_STORED]
_INSERT = (f"INSERT INTO drone_samples ({', '.join(_COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(_COLUMNS))})")


def _row(s: TelemetrySample) -> list[object]:
    values = dict(zip(_SAMPLE_FIELDS, astuple(s), strict=True))
    values["at"] = round(s.at * 1000)
    for name in _NOT_STORED:
        values.pop(name)
    if s.armed is not None:
        values["armed"] = int(s.armed)
    return list(values.values())


@dataclass(frozen=True, slots=True)
class Outcome:
    """What :func:`record` did."""

    samples: int
    incidents: list[tuple[AlertAction, str | None]]
    """Each action carried out, with the incident it raised or touched."""


#: Alert subjects of vehicles: ``drone:VEHICLE``.
SUBJECT_PREFIX = "drone:"


def subject(vehicle: str) -> str:
    return SUBJECT_PREFIX + vehicle


def load_open_alerts(store: LogStore) -> dict[tuple[str, str], OpenAlert]:
    """(vehicle, rule) -> the open alert, for every vehicle."""
    return {(a.subject.removeprefix(SUBJECT_PREFIX), a.rule): OpenAlert(a.incident, a.severity)
            for a in open_alerts(store, SUBJECT_PREFIX)}


def record(log: IncidentLog, samples: Sequence[TelemetrySample],
           actions: Sequence[AlertAction]) -> Outcome:
    """Store ``samples`` and carry out ``actions``. An action that fails is logged and
    skipped (the next tick tries again); samples are stored regardless. The caller passes
    only samples with new telemetry: a silent vehicle gets no rows."""
    stored = 0
    if samples:
        try:
            with log.store.write() as conn:
                conn.executemany(_INSERT, [_row(s) for s in samples])
            stored = len(samples)
        except StoreError as exc:
            logger.error("drone samples not stored: %s", exc)
    done: list[tuple[AlertAction, str | None]] = []
    for action in actions:
        try:
            done.append((action, _carry_out(log, action)))
        except FieldkitError as exc:
            logger.error("drone %s: cannot %s %s alert (will retry): %s", action.vehicle,
                         action.action, action.rule, exc)
    return Outcome(stored, done)


def _carry_out(log: IncidentLog, a: AlertAction) -> str | None:
    if a.action is Action.CLEAR:
        cleared = clear(log, subject(a.vehicle), a.rule, note=a.detail,
                        resolve="condition cleared")
        return None if cleared is None else cleared.id
    outcome = raise_or_update(
        log, Alert(subject(a.vehicle), a.rule, a.title, IncidentKind.DRONE, a.severity,
                   Source.DRONE, a.detail, a.location, ((LinkTarget.DRONE, a.vehicle),)),
        note=a.detail if a.action is Action.ESCALATE else None)
    what = "" if outcome.change is Change.RAISED else f" {outcome.change}"
    logger.warning("%s (incident %s%s)", a.title, outcome.incident.id, what)
    return outcome.incident.id


def prune_samples(log: IncidentLog, before_ms: int) -> int:
    """Delete samples taken before ``before_ms``; returns how many."""
    with log.store.write() as conn:
        return conn.execute("DELETE FROM drone_samples WHERE at_ms < ?", [before_ms]).rowcount
