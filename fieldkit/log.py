"""The incident log: the library API every other part of fieldkit writes and reads through.

Local actions (create, update, status, assign, note, attach, link) each append signed
events in one transaction and return the folded incident: when a call returns, the
change is on disk. Foreign events (from sync or bundle files) enter through
:meth:`IncidentLog.apply`, which checks origin, chain, hash, payload and signature and
commits the whole batch atomically, or rejects and counts what fails.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import uuid6
from pydantic import ValidationError

from fieldkit.errors import InvalidActionError, NotFoundError
from fieldkit.events import (
    FIELD_ADAPTERS,
    GENESIS,
    CreatePayload,
    Event,
    canonical_json,
    check_payload,
    seal,
)
from fieldkit.fold import Incident
from fieldkit.hlc import DEFAULT_MAX_CLOCK_SKEW_S, next_hlc, wall_ms
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.intake import (
    ApplyReport,
    Clock,
    Rejection,
    check_batch,
    count_rejections,
    parse_wire,
)
from fieldkit.retention import gone_error, with_expiry
from fieldkit.schema import BOARD_ORDER
from fieldkit.storeapi import Connection, LogStore
from fieldkit.strict import describe
from fieldkit.view import (
    EVENT_COLUMNS,
    SQL_CHUNK,
    event_to_row,
    rebuild_view,
    refold,
    row_to_event,
)
from fieldkit.vocabulary import Agency, LinkTarget, Status

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=2048)
def parse_state(state: str) -> Incident:
    """A stored incident state, parsed once: consoles read the same board over and over,
    and a changed incident has a new state (Incident is frozen, so it is shared)."""
    return Incident.model_validate_json(state)

Action = tuple[str, dict[str, Any]]
"""An event to append: (kind, payload)."""


class IncidentLog:
    """Read and write the incident log in ``store`` as ``identity``.

    :param store: the open database.
    :param identity: this node's name and key; every local event is signed with it.
    :param keyring: nodes whose events :meth:`apply` accepts (this node included).
    :param clock: wall-clock milliseconds; tests pass their own.
    :param max_skew_s: how far ahead of ``clock`` a foreign event may be dated
        (``trust.max_clock_skew_s``); later ones are refused and counted.
    """

    def __init__(self, store: LogStore, identity: NodeIdentity, keyring: Keyring,
                 clock: Callable[[], int] = wall_ms,
                 max_skew_s: int = DEFAULT_MAX_CLOCK_SKEW_S) -> None:
        self.store = store
        self.identity = identity
        self.keyring = keyring
        self._clock = clock
        self.max_skew_s = max_skew_s

    # --- local actions ----------------------------------------------------------------

    def create(self, *, title: str, kind: str, severity: int, source: str = "crew",
               location: dict[str, Any] | None = None, description: str = "") -> Incident:
        """Open a new incident. Raises InvalidActionError naming the first bad field."""
        try:
            payload = CreatePayload.model_validate({
                "title": title, "kind": kind, "severity": severity, "source": source,
                "location": location, "description": description,
            }).to_payload()
        except ValidationError as exc:
            raise InvalidActionError(describe(exc, echo=False)) from exc
        incident_id = str(uuid6.uuid7())
        with self._local_write([incident_id]) as conn:
            return self._commit(conn, incident_id, [("create", payload)])

    def update(self, incident_id: str, changes: dict[str, Any], *,
               if_changed: bool = False) -> Incident:
        """Set title, kind, severity, location and/or description; the fields that already
        hold their value are left out. ``if_changed``: when none is left, return the
        incident as it is instead of raising "nothing to change"."""
        unknown = sorted(set(changes) - set(FIELD_ADAPTERS))
        if unknown:
            raise InvalidActionError(
                f"cannot set {', '.join(unknown)}: settable fields are {', '.join(FIELD_ADAPTERS)}")
        values = {}
        for name, value in changes.items():
            adapter = FIELD_ADAPTERS[name]
            try:
                values[name] = adapter.dump_python(adapter.validate_python(value), mode="json",
                                                   exclude_none=True)
            except ValidationError as exc:
                raise InvalidActionError(f"{name}: {describe(exc, echo=False)}") from exc

        def build(state: Incident) -> list[Action]:
            actions = [
                ("set", {"field": name, "value": value, "base": state.heads[name]})
                for name, value in values.items()
                if _changes(state, name, value)
            ]
            if not actions and not if_changed:
                raise InvalidActionError(f"incident {state.id}: nothing to change")
            return actions

        return self._transact(incident_id, build)

    def set_status(self, incident_id: str, status: str, reason: str = "") -> Incident:
        """Move to any status; moving a resolved or closed incident back reopens it."""
        try:
            new = Status(status)
        except ValueError:
            raise InvalidActionError(
                f"status {status!r} is not one of {', '.join(s.value for s in Status)}"
            ) from None

        def build(state: Incident) -> list[Action]:
            if not _changes(state, "status", new.value):
                raise InvalidActionError(f"incident {state.id} is already {new.value}")
            return [("status", {"status": new.value, "base": state.heads["status"],
                                "reason": reason})]

        return self._transact(incident_id, build)

    def acknowledge(self, incident_id: str) -> Incident:
        """Move a new incident to acknowledged; refuse one that is already further along
        (a late "ack" must not pull a dispatched incident back)."""
        def build(state: Incident) -> list[Action]:
            if state.status is not Status.NEW or len(state.heads["status"]) > 1:
                raise InvalidActionError(
                    f"incident {state.id} is {state.status.value}, not new: set its status "
                    "explicitly to move it back")
            return [("status", {"status": Status.ACKNOWLEDGED.value,
                                "base": state.heads["status"], "reason": ""})]

        return self._transact(incident_id, build)

    def assign(self, incident_id: str, agency: str, unit: str) -> Incident:
        def build(state: Incident) -> list[Action]:
            if any(a.agency == agency and a.unit == unit for a in state.assigned):
                raise InvalidActionError(f"{agency} unit {unit!r} is already assigned")
            return [("assign", {"agency": agency, "unit": unit})]

        _check_agency(agency)
        return self._transact(incident_id, build)

    def unassign(self, incident_id: str, agency: str, unit: str) -> Incident:
        def build(state: Incident) -> list[Action]:
            seen = [a.event for a in state.assigned if a.agency == agency and a.unit == unit]
            if not seen:
                raise InvalidActionError(f"{agency} unit {unit!r} is not assigned")
            return [("unassign", {"agency": agency, "unit": unit, "base": seen})]

        _check_agency(agency)
        return self._transact(incident_id, build)

    def add_note(self, incident_id: str, text: str) -> Incident:
        return self._transact(incident_id, lambda _: [("note", {"text": text})])

    def link(self, incident_id: str, target: str, ref: str) -> Incident:
        """Link a camera or drone (``target``) by its name (``ref``)."""
        if target not in {t.value for t in LinkTarget}:
            raise InvalidActionError(f"link target {target!r} is not one of camera, drone")
        return self._transact(incident_id, lambda _: [("link", {"target": target, "ref": ref})])

    def attach(self, incident_id: str, data: bytes, name: str, mime: str) -> Incident:
        """Store ``data`` as a content-addressed blob and attach it."""
        digest = hashlib.sha256(data).hexdigest()
        payload = {"blob": digest, "name": name, "mime": mime, "size": len(data)}
        with self._local_write([incident_id]) as conn:
            self._get(conn, incident_id)
            conn.execute(
                "INSERT INTO blobs (sha256, mime, size, data) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [digest, mime, len(data), data])
            # Attached again (by hand): held again, no longer expired.
            conn.execute("DELETE FROM expired_blobs WHERE sha256 = ?", [digest])
            return self._commit(conn, incident_id, [("attach", payload)])

    def _transact(self, incident_id: str, build: Callable[[Incident], list[Action]]) -> Incident:
        """Read the incident, build actions from it, append them: all in one transaction,
        so two writers (node and CLI) never build on the same stale state."""
        with self._local_write([incident_id]) as conn:
            return self._commit(conn, incident_id, build(self._get(conn, incident_id)))

    @contextmanager
    def _local_write(self, incidents: Iterable[str]) -> Iterator[Connection]:
        """A write transaction holding this node's own chain and the ``incidents`` it
        will append to and fold (see LogStore.lock_origins, lock_incidents)."""
        with self.store.write() as conn:
            self.store.lock_origins(conn, [self.identity.name])
            self.store.lock_incidents(conn, incidents)
            yield conn

    def _commit(self, conn: Connection, incident_id: str,
                actions: list[Action]) -> Incident:
        for kind, payload in actions:
            problem = check_payload(kind, payload)
            if problem:
                raise InvalidActionError(problem)
        self._append(conn, [(incident_id, kind, payload) for kind, payload in actions])
        refold(conn, [incident_id])
        return self._get(conn, incident_id)

    def append(self, items: Sequence[tuple[str, str, dict[str, Any]]]) -> list[Event]:
        """Append raw (incident, kind, payload) events in one transaction.

        For bulk producers (analytics, benchmarks); the actions above are the usual way.
        """
        for _, kind, payload in items:
            problem = check_payload(kind, payload)
            if problem:
                raise InvalidActionError(problem)
        with self._local_write({incident for incident, _, _ in items}) as conn:
            events = self._append(conn, items)
            refold(conn, {e.incident for e in events})
        return events

    def _append(self, conn: Connection,
                items: Sequence[tuple[str, str, dict[str, Any]]]) -> list[Event]:
        me = self.identity.name
        head = conn.execute("SELECT seq, hash, hlc FROM events WHERE origin = ?"
                            " ORDER BY seq DESC LIMIT 1", [me]).fetchone()
        seq, prev, hlc = head or (0, GENESIS, 0)
        seen_max = conn.execute("SELECT max(hlc) FROM events").fetchone()[0] or 0
        events = []
        for incident_id, kind, payload in items:
            hlc = next_hlc(self._clock(), hlc, seen_max)
            seq += 1
            event = seal(self.identity, seq=seq, hlc=hlc, incident=incident_id, kind=kind,
                         payload=payload, prev=prev)
            prev = event.hash
            events.append(event)
        self.store.insert_events(conn, [event_to_row(e) for e in events])
        return events

    # --- foreign events ---------------------------------------------------------------

    def apply_wire(self, items: Iterable[Any]) -> ApplyReport:
        """Apply events in their JSON form; unreadable envelopes are rejected as malformed."""
        events, malformed = parse_wire(items, self.keyring)
        report = self.apply(events)
        report.rejected += [Rejection("?", "malformed", detail) for _, _, detail in malformed]
        if malformed:
            with self.store.write() as conn:
                count_rejections(conn, malformed, self._clock())
        return report

    def apply(self, events: Iterable[Event]) -> ApplyReport:
        """Verify and store events from other nodes, as one atomic batch.

        See :func:`fieldkit.intake.check_batch` for what is checked; what passes is
        stored and folded in the same transaction that counts what was rejected.
        """
        report = ApplyReport()
        events = list(events)
        with self.store.write() as conn:
            self.store.lock_origins(conn, {e.origin for e in events})
            accepted, refused = check_batch(conn, self.keyring, events, report,
                                            Clock(self._clock(), self.max_skew_s * 1000))
            conn.executemany("UPDATE events SET sig = ? WHERE origin = ? AND seq = ?",
                             [(e.sig, e.origin, e.seq) for e in report.healed])
            report.applied = len(accepted)
            report.incidents = {e.incident for e in accepted}
            count_rejections(conn, refused, self._clock())
            if accepted:
                # Folded first, with the batch in hand: the arrival lock (every writer's)
                # is then held only to insert and commit.
                self.store.lock_incidents(conn, report.incidents)
                refold(conn, report.incidents, pending=accepted)
                self.store.insert_events(conn, [event_to_row(e) for e in accepted])
        for (origin, reason), n in Counter((o, r) for o, r, _ in refused).items():
            logger.warning("rejected %d event(s) from %s: %s", n, origin, reason)
        if report.healed:
            logger.warning("replaced %d signature(s) that did not verify (first %s) by the "
                           "origin's own", len(report.healed), report.healed[0].id)
        return report

    # --- reads -------------------------------------------------------------------------

    def get(self, incident_id: str) -> Incident:
        return self._get(self.store.conn, incident_id)

    @staticmethod
    def _get(conn: Connection, incident_id: str) -> Incident:
        row = conn.execute("SELECT state FROM incidents WHERE id = ?", [incident_id]).fetchone()
        if row is None:
            raise NotFoundError(f"no incident {incident_id!r}")
        return with_expiry(conn, [parse_state(row[0])])[0]

    def resolve(self, fragment: str) -> str:
        """The full id of the one incident whose id starts or ends with ``fragment``.

        UUIDv7 ids start with the time, so incidents made together share a prefix; the
        last 8 characters (random) are what the CLI and console show.
        """
        if len(fragment) < 4:
            raise InvalidActionError(f"incident id {fragment!r} is too short: give 4+ characters")
        escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self.store.conn.execute(
            "SELECT id FROM incidents WHERE id LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\'"
            " LIMIT 2", [escaped + "%", "%" + escaped]).fetchall()
        if not rows:
            raise NotFoundError(f"no incident {fragment!r}")
        if len(rows) > 1:
            raise InvalidActionError(f"incident id {fragment!r} is ambiguous: give more characters")
        return str(rows[0][0])

    def incidents(self, *, status: str | None = None, kind: str | None = None,
             min_severity: int | None = None, open_only: bool = False,
             limit: int | None = None) -> list[Incident]:
        """Incidents, open ones first, then by severity and most recent change."""
        where: list[str] = []
        params: list[str | int] = []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if min_severity is not None:
            where.append("severity >= ?")
            params.append(min_severity)
        if open_only:
            where.append("status NOT IN ('resolved', 'closed')")
        sql = "SELECT state FROM incidents"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {BOARD_ORDER}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return with_expiry(self.store.conn, [parse_state(r[0])
                                             for r in self.store.conn.execute(sql, params)])

    def events_of(self, incident_id: str) -> list[Event]:
        """The incident's events in fold order."""
        self.get(incident_id)
        rows = self.store.conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE incident = ? ORDER BY hlc, origin, seq",
            [incident_id])
        return [row_to_event(r) for r in rows]

    def feed(self, after: int = 0, limit: int = 500) -> list[tuple[int, Event]]:
        """Events in local arrival order after cursor ``after``: (cursor, event) pairs."""
        rows = self.store.conn.execute(
            f"SELECT arrival, {EVENT_COLUMNS} FROM events WHERE arrival > ?"
            " ORDER BY arrival LIMIT ?", [after, limit])
        return [(r[0], row_to_event(r[1:])) for r in rows]

    def cursor(self) -> int:
        """The arrival cursor of the latest event held (0 when empty)."""
        return int(self.store.conn.execute("SELECT coalesce(max(arrival), 0) FROM events")
                   .fetchone()[0])

    def version_vector(self) -> dict[str, int]:
        """Per origin, the highest contiguous seq held."""
        rows = self.store.conn.execute("SELECT origin, max(seq) FROM events GROUP BY origin")
        return dict(rows.fetchall())

    def events_since(self, vector: dict[str, int], limit: int = 1000) -> list[Event]:
        """Events this node holds beyond ``vector`` (origin -> highest seq the other side
        holds), each origin's in chain order: what a peer at ``vector`` lacks."""
        found: list[Event] = []
        for origin, held in sorted(self.version_vector().items()):
            after = vector.get(origin, 0)
            if held > after and len(found) < limit:
                found += self.events_after(origin, after, limit - len(found))
        return found

    def events_after(self, origin: str, after: int, limit: int = 1000) -> list[Event]:
        """At most ``limit`` events of ``origin`` with seq above ``after``, in chain order."""
        rows = self.store.conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE origin = ? AND seq > ?"
            " ORDER BY seq LIMIT ?", [origin, after, limit])
        return [row_to_event(r) for r in rows]

    def triage(self, incident_ids: Iterable[str]) -> dict[str, tuple[bool, int, int]]:
        """``(open, severity, updated_at)`` of each incident held among ``incident_ids``:
        the parts of the board's order (open first, then severity, then latest change)."""
        ids = list(dict.fromkeys(incident_ids))
        found: dict[str, tuple[bool, int, int]] = {}
        for i in range(0, len(ids), SQL_CHUNK):
            chunk = ids[i:i + SQL_CHUNK]
            marks = ",".join("?" * len(chunk))
            for incident_id, status, severity, updated in self.store.conn.execute(
                    f"SELECT id, status, severity, updated_at FROM incidents"
                    f" WHERE id IN ({marks})", chunk):
                found[incident_id] = (Status(status).is_open, int(severity), int(updated))
        return found

    def put_blob(self, data: bytes, mime: str) -> str:
        """Store content (e.g. received from a peer); returns its sha256. Content this
        node expired (retention) is not taken back from a peer that keeps it longer."""
        digest = hashlib.sha256(data).hexdigest()
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO blobs (sha256, mime, size, data) SELECT ?, ?, ?, ?"
                " WHERE NOT EXISTS (SELECT 1 FROM expired_blobs WHERE sha256 = ?)"
                " ON CONFLICT DO NOTHING",
                [digest, mime, len(data), data, digest])
        return digest

    def missing_blobs(self) -> list[str]:
        """Blobs named by attachments held here whose content is not (yet) held, and was
        not expired here."""
        rows = self.store.conn.execute(
            "SELECT DISTINCT json_extract(payload, '$.blob') AS sha FROM events"
            " WHERE kind = 'attach' AND json_extract(payload, '$.blob') NOT IN"
            " (SELECT sha256 FROM blobs UNION SELECT sha256 FROM expired_blobs) ORDER BY sha")
        return [str(r[0]) for r in rows]

    def blob(self, digest: str) -> tuple[str, bytes]:
        """A blob's mime type and content; GoneError if retention pruned it here."""
        conn = self.store.conn
        row = conn.execute("SELECT mime, data FROM blobs WHERE sha256 = ?", [digest]).fetchone()
        if row is None:
            raise gone_error(conn, digest) or NotFoundError(f"no blob {digest!r}")
        return str(row[0]), bytes(row[1])

    def rejections(self) -> list[dict[str, Any]]:
        rows = self.store.conn.execute(
            "SELECT origin, reason, count, last_at, last_detail FROM rejections"
            " ORDER BY origin, reason")
        keys = ("origin", "reason", "count", "last_at", "last_detail")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def stats(self) -> dict[str, Any]:
        """Counts for health: events, incidents by status, origins, rejections, and the
        arrival cursor (where a live stream resumes), read together."""
        with self.store.read() as conn:  # one snapshot: the counts agree with the cursor
            by_status = dict(conn.execute(
                "SELECT status, count(*) FROM incidents GROUP BY status"))
            events, cursor = conn.execute(
                "SELECT count(*), coalesce(max(arrival), 0) FROM events").fetchone()
            return {
                "events": events,
                "cursor": cursor,
                "incidents": sum(by_status.values()),
                "by_status": by_status,
                "open": sum(n for s, n in by_status.items() if Status(s).is_open),
                "origins": self.version_vector(),
                "rejected": sum(r["count"] for r in self.rejections()),
            }

    def rebuild(self) -> int:
        """Fold every incident again from the events. Returns the number of incidents."""
        with self.store.write() as conn:
            return rebuild_view(conn)


def _changes(state: Incident, name: str, value: Any) -> bool:
    """Whether writing ``value`` changes the field (a conflicted field always may)."""
    current = getattr(state, name)
    return len(state.heads[name]) > 1 or canonical_json(current) != canonical_json(value)


def _check_agency(agency: str) -> None:
    if agency not in {a.value for a in Agency}:
        raise InvalidActionError(
            f"agency {agency!r} is not one of {', '.join(a.value for a in Agency)}")
