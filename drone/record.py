"""Writing drone telemetry and alerts to the node's database.

These functions run on the store thread (through :meth:`LogWorker.call`). Samples go to
``drone_samples`` in one transaction; alerts become incidents through the incident log's
public API (kind ``drone``, source ``drone``, linked to the drone by name), and
``drone_alerts`` remembers which incident is open for which vehicle and rule, so a
restarted node does not raise the same condition twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, fields

from drone.rules import Action, AlertAction, OpenAlert
from drone.state import TelemetrySample
from fieldkit.errors import FieldkitError, InvalidActionError, StoreError
from fieldkit.log import IncidentLog
from fieldkit.vocabulary import Status

logger = logging.getLogger(__name__)

_SAMPLE_FIELDS = [f.name for f in fields(TelemetrySample)]
_COLUMNS = [("at_ms" if n == "at" else n) for n in _SAMPLE_FIELDS if n != "gps_accuracy_m"]
_INSERT = (f"INSERT INTO drone_samples ({', '.join(_COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(_COLUMNS))})")


def _row(s: TelemetrySample) -> list[object]:
    values = dict(zip(_SAMPLE_FIELDS, astuple(s), strict=True))
    values["at"] = round(s.at * 1000)
    values.pop("gps_accuracy_m")
    if s.armed is not None:
        values["armed"] = int(s.armed)
    return list(values.values())


@dataclass(frozen=True, slots=True)
class Outcome:
    """What :func:`record` did."""

    samples: int
    incidents: list[tuple[AlertAction, str | None]]
    """Each action carried out, with the incident it raised or touched."""


def load_open_alerts(log: IncidentLog) -> dict[tuple[str, str], OpenAlert]:
    rows = log.store.conn.execute(
        "SELECT a.vehicle, a.rule, a.incident, i.severity FROM drone_alerts a"
        " LEFT JOIN incidents i ON i.id = a.incident WHERE a.cleared_at IS NULL")
    return {(v, r): OpenAlert(incident, severity or 1) for v, r, incident, severity in rows}


def record(log: IncidentLog, samples: Sequence[TelemetrySample],
           actions: Sequence[AlertAction], now_ms: int) -> Outcome:
    """Store ``samples`` and carry out ``actions``. An action that fails is logged and
    skipped (the next tick tries again); samples are stored regardless."""
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
            done.append((action, _carry_out(log, action, now_ms)))
        except FieldkitError as exc:
            logger.error("drone %s: cannot %s %s alert (will retry): %s", action.vehicle,
                         action.action, action.rule, exc)
    return Outcome(stored, done)


def _carry_out(log: IncidentLog, a: AlertAction, now_ms: int) -> str | None:
    if a.action is Action.RAISE:
        incident = log.create(title=a.title, kind="drone", severity=a.severity,
                              source="drone", location=a.location, description=a.detail)
        logger.warning("%s (incident %s)", a.title, incident.id)
        # The incident is saved: from here on, failing must not make the caller raise it
        # a second time, so errors are logged and the id is returned regardless.
        try:
            with log.store.write() as conn:
                conn.execute("INSERT INTO drone_alerts (vehicle, rule, incident, raised_at)"
                             " VALUES (?, ?, ?, ?)", [a.vehicle, a.rule, incident.id, now_ms])
            log.link(incident.id, "drone", a.vehicle)
        except FieldkitError as exc:
            logger.error("incident %s: alert bookkeeping failed: %s", incident.id, exc)
        return incident.id
    assert a.incident is not None
    if a.action is Action.ESCALATE:
        changes: dict[str, object] = {"severity": a.severity, "title": a.title}
        if a.location is not None:
            changes["location"] = a.location
        _try(log.update, a.incident, changes)
        log.add_note(a.incident, a.detail)
        logger.warning("%s (incident %s escalated)", a.title, a.incident)
        return a.incident
    log.add_note(a.incident, a.detail)
    current = log.get(a.incident)
    if Status(current.status).is_open:
        _try(log.set_status, a.incident, Status.RESOLVED.value, "condition cleared")
    with log.store.write() as conn:
        conn.execute("UPDATE drone_alerts SET cleared_at = ? WHERE incident = ?"
                     " AND cleared_at IS NULL", [now_ms, a.incident])
    logger.info("drone %s: %s cleared (incident %s)", a.vehicle, a.rule, a.incident)
    return a.incident


def _try(fn: Callable[..., object], *args: object) -> None:
    """Crews may have changed the incident meanwhile: a no-op change is not an error."""
    try:
        fn(*args)
    except InvalidActionError as exc:
        logger.info("skipped: %s", exc)


def prune_samples(log: IncidentLog, before_ms: int) -> int:
    """Delete samples taken before ``before_ms``; returns how many."""
    with log.store.write() as conn:
        return conn.execute("DELETE FROM drone_samples WHERE at_ms < ?", [before_ms]).rowcount
