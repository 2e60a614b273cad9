"""Alerts: one incident per situation, raised, updated and cleared by the parts that watch.

A part that watches for trouble (drones, cameras, the node's hardware, sensors) names
each situation it sees by a **subject** (what is watched: ``drone:D1``, ``camera:gate``,
``node``) and a **rule** (what holds: ``battery``, ``density:z1``, ``disk_full``), and
describes it as an :class:`Alert`. Three calls keep the incident log in step:

- :func:`raise_or_update` opens an incident for a situation not yet raised (or, when the
  situation's last incident is still open because the crew has not resolved it, brings
  that one back with a note), and links it; for a situation already raised it writes the
  fields that changed, once the severity or the title did. Raising again what is raised
  with the same values writes nothing: a part may repeat any call after a restart.
- :func:`clear` ends the situation: a note, optionally resolving the incident (never
  one the crew resolved or closed already), and the alert is closed. Clearing what is not
  raised does nothing.
- :func:`open_alerts` lists the open alerts, for a part starting up.

Each call is ONE write transaction: the ``alerts`` row and the incident's events commit
together or not at all, so a node killed at any point has either raised the situation
or not, and never raises it twice (the unique index ``alerts_open`` holds one open alert
per situation). A part may open a wider write around several calls
(``with log.store.write():``); they nest as savepoints.

The functions run where the log's connection is used (the store thread, through
:meth:`fieldkit.worker.LogWorker.call`). The ``alerts`` table is local to the node:
peers see the incidents, not the alerts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fieldkit.errors import NotFoundError
from fieldkit.fold import Incident
from fieldkit.hlc import wall_ms
from fieldkit.log import IncidentLog
from fieldkit.storeapi import Connection, LogStore

logger = logging.getLogger(__name__)

__all__ = ["Alert", "Change", "OpenAlert", "Outcome", "Snapshot", "clear", "open_alerts",
           "raise_or_update"]


@dataclass(frozen=True, slots=True)
class Alert:
    """A situation that holds, as the part that watches it sees it now."""

    subject: str
    """What is watched: ``drone:NAME``, ``camera:NAME``, ``node``, ..."""
    rule: str
    """What holds, within the subject: ``battery``, ``density:ZONE``, ..."""
    title: str
    """The incident's title."""
    kind: str
    """The incident's kind (a :class:`fieldkit.vocabulary.IncidentKind` value)."""
    severity: int
    """1 to 5."""
    source: str
    """Who raises it (a :class:`fieldkit.vocabulary.Source` value)."""
    description: str = ""
    """What was measured."""
    location: dict[str, Any] | None = None
    """Where (an incident location); None: unknown, an update keeps the last one."""
    links: tuple[tuple[str, str], ...] = ()
    """(target, ref) linked to the incident when it is opened, e.g. ("drone", "D1")."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A picture to attach when an alert raises or updates its incident."""

    data: bytes
    name: str
    mime: str = "image/jpeg"


class Change(StrEnum):
    RAISED = "raised"
    """A new incident was opened."""
    REOPENED = "reopened"
    """The situation came back while its last incident was still open: that one again."""
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What :func:`raise_or_update` did."""

    change: Change
    incident: Incident
    """The incident, as folded after the change."""


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """An alert not cleared yet."""

    subject: str
    rule: str
    incident: str
    severity: int
    """The incident's severity now (1 if the incident is not held)."""
    raised_at: int
    """Node wall clock, ms."""


def raise_or_update(log: IncidentLog, alert: Alert, *, note: str | None = None,
                    snapshot: Snapshot | None = None) -> Outcome:
    """Raise ``alert``'s situation, or update its open incident; one transaction.

    ``note`` is added and ``snapshot`` attached when something is written (a reopened
    incident gets "Condition back: DESCRIPTION" when no note is given). Raises
    :class:`~fieldkit.errors.InvalidActionError` for a bad field, having written nothing.
    """
    with log.store.write() as conn:
        row = conn.execute(
            "SELECT id, incident FROM alerts WHERE subject = ? AND rule = ?"
            " AND cleared_at IS NULL", [alert.subject, alert.rule]).fetchone()
        if row is not None:
            change, incident = _update(log, conn, int(row[0]), str(row[1]), alert)
        else:
            change, incident = _raise(log, conn, alert)
            if change is Change.REOPENED and note is None:
                note = f"Condition back: {alert.description or alert.title}"
        if change is not Change.UNCHANGED:
            if note:
                incident = log.add_note(incident.id, note)
            if snapshot is not None:
                incident = log.attach(incident.id, snapshot.data, snapshot.name, snapshot.mime)
    if change is not Change.UNCHANGED:
        logger.info("%s %s %s: incident %s", alert.subject, alert.rule, change.value,
                    incident.id)
    return Outcome(change, incident)


def _raise(log: IncidentLog, conn: Connection, alert: Alert) -> tuple[Change, Incident]:
    last = conn.execute(
        "SELECT incident FROM alerts WHERE subject = ? AND rule = ? ORDER BY id DESC LIMIT 1",
        [alert.subject, alert.rule]).fetchone()
    held = _held(log, str(last[0])) if last is not None else None
    if held is not None and held.status.is_open:
        change, incident = Change.REOPENED, _set_fields(log, held, alert)
    else:
        change = Change.RAISED
        incident = log.create(title=alert.title, kind=alert.kind, severity=alert.severity,
                              source=alert.source, location=alert.location,
                              description=alert.description)
        for target, ref in alert.links:
            incident = log.link(incident.id, target, ref)
    conn.execute("INSERT INTO alerts (subject, rule, incident, raised_at) VALUES (?, ?, ?, ?)",
                 [alert.subject, alert.rule, incident.id, wall_ms()])
    return change, incident


def _update(log: IncidentLog, conn: Connection, alert_id: int, incident_id: str,
            alert: Alert) -> tuple[Change, Incident]:
    held = _held(log, incident_id)
    if held is None:  # only a damaged database loses an incident: raise the situation anew
        logger.error("%s %s: open alert names incident %s, which is not held; raising anew",
                     alert.subject, alert.rule, incident_id)
        conn.execute("UPDATE alerts SET cleared_at = ? WHERE id = ?", [wall_ms(), alert_id])
        return _raise(log, conn, alert)
    if held.severity == alert.severity and held.title == alert.title:
        return Change.UNCHANGED, held
    return Change.UPDATED, _set_fields(log, held, alert)


def _set_fields(log: IncidentLog, held: Incident, alert: Alert) -> Incident:
    """Write the alert's fields that differ from the incident's (one event each)."""
    wanted: dict[str, Any] = {"title": alert.title, "severity": alert.severity,
                              "description": alert.description}
    if alert.location is not None:
        wanted["location"] = alert.location
    return log.update(held.id, wanted, if_changed=True)


def _held(log: IncidentLog, incident_id: str) -> Incident | None:
    try:
        return log.get(incident_id)
    except NotFoundError:
        return None


def clear(log: IncidentLog, subject: str, rule: str, *, note: str | None = None,
          resolve: str | None = None) -> Incident | None:
    """End the situation (``subject``, ``rule``); one transaction.

    ``note`` is added to its incident; with ``resolve`` (the reason) the incident is
    resolved unless the crew resolved or closed it already. Returns the incident, or None
    when the situation was not raised (nothing is written then).
    """
    with log.store.write() as conn:
        row = conn.execute(
            "SELECT id, incident FROM alerts WHERE subject = ? AND rule = ?"
            " AND cleared_at IS NULL", [subject, rule]).fetchone()
        if row is None:
            return None
        conn.execute("UPDATE alerts SET cleared_at = ? WHERE id = ?", [wall_ms(), row[0]])
        incident = _held(log, str(row[1]))
        if incident is None:
            logger.error("%s %s: cleared; its incident %s is not held", subject, rule, row[1])
            return None
        if note:
            incident = log.add_note(incident.id, note)
        if resolve is not None and incident.status.is_open:
            incident = log.set_status(incident.id, "resolved", resolve)
    logger.info("%s %s cleared: incident %s", subject, rule, incident.id)
    return incident


def open_alerts(store: LogStore, prefix: str = "") -> list[OpenAlert]:
    """Open alerts whose subject starts with ``prefix`` (all by default), oldest first.

    Takes the store, not the log: a reader (``fieldkit drone status``) needs no identity.
    """
    rows = store.conn.execute(
        "SELECT a.subject, a.rule, a.incident, i.severity, a.raised_at FROM alerts a"
        " LEFT JOIN incidents i ON i.id = a.incident"
        " WHERE a.cleared_at IS NULL AND substr(a.subject, 1, ?) = ? ORDER BY a.id",
        [len(prefix), prefix])
    return [OpenAlert(str(s), str(r), str(i), int(sev or 1), int(at))
            for s, r, i, sev, at in rows]
