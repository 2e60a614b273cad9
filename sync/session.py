"""Anti-entropy sessions: both directions between two nodes, whatever carries the bytes.

:class:`SyncEngine` is one node's side: it answers a peer (hello, pull, push, blobs) and
runs sessions it starts (:meth:`SyncEngine.run_session`) over a :class:`Transport` such as
:class:`sync.http.HttpTransport`. A session:

1. **hello**: exchange version vectors and roster versions; the newer roster is adopted
   by the other side (after checking HQ's signature).
2. **pull**: ask for what we lack, given our vector; the peer answers with one batch in
   priority order (:func:`sync.protocol.plan`); apply it atomically; repeat until empty.
3. **push**: send what the peer lacks by its vector, in the same order, one batch per
   request; the peer applies each atomically and answers with its new vector.
4. **blobs**, last: fetch attachments we lack and send those the peer lacks, each way up
   to the byte budget.

Every batch is verified and committed atomically before it is acknowledged, and every
round starts from the vector actually held: a cut at any byte loses at most the batch
in flight, which the next session sends again (and a repeat is only a duplicate).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar

from fieldkit.errors import NotFoundError
from fieldkit.intake import ApplyReport
from fieldkit.log import IncidentLog
from sync import peerstate
from sync.config import SyncSection
from sync.errors import AuthError, PeerRefused, ProtocolError, RosterError
from sync.protocol import Vector, decode_batch, encode_fitting, parse_vector, plan
from sync.roster import Roster, Trust, adopt, load_roster
from sync.scope import offer_filter

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
MAX_ROUNDS = 100_000
MAX_MISSING_LISTED = 1000
MAX_BATCH_BYTES = 8 << 20
MAX_PUSH_BYTES = 900 << 10


class Runner(Protocol):
    """Runs incident-log calls where the store lives (:class:`fieldkit.worker.LogWorker`)."""

    log: IncidentLog

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T: ...

    async def ingest(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`call` for a bulk write: a few at a time, so reads never queue behind a
        fleet's batches."""
        ...


class Transport(Protocol):
    """One peer, as seen by the side that starts a session."""

    @property
    def peer(self) -> str: ...
    @property
    def url(self) -> str | None: ...

    async def hello(self, body: dict[str, Any]) -> dict[str, Any]: ...
    async def pull(self, vector: Vector, limit: int, accept: list[str]) -> bytes: ...
    async def push(self, batch: bytes) -> dict[str, Any]: ...
    async def missing_blobs(self) -> list[str]: ...
    async def get_blob(self, digest: str) -> tuple[str, bytes]: ...
    async def put_blob(self, digest: str, mime: str, data: bytes) -> None: ...


@dataclass
class SessionReport:
    """What one session did."""

    peer: str
    pulled: int = 0
    """Events new to us, applied."""
    pushed: int = 0
    """Events new to the peer, applied there."""
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)
    """``event: reason`` for events refused on either side."""
    blobs_in: int = 0
    blobs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    roster: str = ""
    """'received vN', 'sent vN' or ''."""

    def line(self) -> str:
        parts = [f"{self.peer}: pulled {self.pulled}, pushed {self.pushed} events",
                 f"{self.duplicates} duplicate(s)", f"{len(self.rejected)} rejected",
                 f"blobs {self.blobs_in} in/{self.blobs_out} out",
                 f"{self.bytes_in + self.bytes_out} bytes"]
        if self.roster:
            parts.append(f"roster {self.roster}")
        return ", ".join(parts)


def report_json(report: ApplyReport) -> dict[str, Any]:
    return {"applied": report.applied, "duplicates": report.duplicates,
            "deferred": len(report.deferred),
            "rejected": [{"event": r.event, "reason": r.reason, "detail": r.detail}
                         for r in report.rejected]}


class SyncEngine:
    """One node's side of sync.

    :param runner: runs calls on the store thread.
    :param trust: keys, roster and revocations (installed into ``runner.log``).
    :param settings: the config's ``[sync]`` section.
    :param on_change: called after events were applied (e.g. wakes the live feed).
    """

    def __init__(self, runner: Runner, trust: Trust, settings: SyncSection,
                 on_change: Callable[[], None] | None = None) -> None:
        self.runner = runner
        self.trust = trust
        self.settings = settings
        self._on_change = on_change or (lambda: None)
        self.name = trust.identity.name

    @property
    def log(self) -> IncidentLog:
        return self.runner.log

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.runner.call(fn, *args, **kwargs)

    async def refresh_roster(self) -> None:
        """Adopt a newer roster stored by another process (e.g. `fieldkit sync roster`)."""
        held = await self._call(load_roster, self.log)
        if held is not None and held.version > self.trust.roster_version:
            try:
                await self._call(adopt, self.log, self.trust, held)
            except RosterError as exc:
                logger.warning("stored roster not adopted: %s", exc)

    # --- answering a peer -----------------------------------------------------------------

    async def hello(self, peer: str, body: Any, url: str | None = None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ProtocolError("hello must be a JSON object")
        await self.refresh_roster()  # one issued by `fieldkit sync roster` meanwhile
        theirs = parse_vector(body.get("vector"), "hello vector")
        their_roster = body.get("roster_version", 0)
        if type(their_roster) is not int:
            raise ProtocolError(f"hello roster_version {their_roster!r} is not an integer")
        roster_note = await self._offered_roster(body.get("roster"))
        await self._call(peerstate.record_contact, self.log, peer, url, theirs)
        return {"node": self.name, "role": self.trust.role,
                "vector": await self._call(self.log.version_vector),
                "accept": self.trust.keyring().names(),
                "roster_version": self.trust.roster_version,
                "roster": self.trust.roster.to_json()
                if self.trust.roster is not None
                and their_roster < self.trust.roster_version else None,
                "roster_note": roster_note}

    async def _offered_roster(self, data: Any) -> str:
        if data is None:
            return ""
        try:
            roster = Roster.parse(data)
            taken = await self._call(adopt, self.log, self.trust, roster)
        except RosterError as exc:
            logger.warning("roster offered by a peer refused: %s", exc)
            return f"refused: {exc}"
        return f"adopted v{roster.version}" if taken else ""

    async def pull(self, peer: str, body: Any) -> bytes:
        """One batch of what ``peer`` lacks, given its vector, in priority order."""
        if not isinstance(body, dict):
            raise ProtocolError("pull must be a JSON object")
        theirs = parse_vector(body.get("vector"), "pull vector")
        limit = body.get("limit", self.settings.batch_events)
        if type(limit) is not int or not 1 <= limit <= 10_000:
            raise ProtocolError(f"pull limit {limit!r} is not 1..10000")
        events = await self._call(plan, self.log, theirs,
                                  _accepted(offer_filter(self.trust, peer), body.get("accept")),
                                  min(limit, self.settings.batch_events))
        return encode_fitting(events, MAX_BATCH_BYTES, self.trust.keyring())[0]

    async def push(self, peer: str, batch: bytes) -> dict[str, Any]:
        """Verify and apply a batch from ``peer`` atomically; answer with our new vector."""
        report = await self.runner.ingest(_apply_batch, self.log, batch)
        if report.applied:
            self._on_change()
        vector = await self._call(self.log.version_vector)
        await self._call(peerstate.record_received, self.log, peer, report.applied)
        return {**report_json(report), "vector": vector}

    async def missing_blobs(self) -> list[str]:
        missing = await self._call(self.log.missing_blobs)
        return missing[:MAX_MISSING_LISTED]

    async def get_blob(self, digest: str) -> tuple[str, bytes]:
        return await self._call(self.log.blob, digest)

    async def put_blob(self, digest: str, mime: str, data: bytes) -> bool:
        """Store a blob that an attachment here names; False if it is not wanted."""
        if hashlib.sha256(data).hexdigest() != digest:
            raise ProtocolError(f"blob {digest[:12]}: content does not match its sha256")
        if digest not in await self._call(self.log.missing_blobs):
            return False
        await self._call(self.log.put_blob, data, mime)
        return True

    # --- starting a session ---------------------------------------------------------------

    async def run_session(self, transport: Transport) -> SessionReport:
        """Both directions with ``transport.peer``; records the contact or the failure."""
        peer = transport.peer
        report = SessionReport(peer)
        try:
            status = self.trust.status(peer)
            if status != "trusted":
                raise AuthError(403, f"not syncing with {peer}: it is {status} in the fleet "
                                     "roster")
            await self._session(transport, report)
        except Exception as exc:
            await self._call(peerstate.record_failure, self.log, peer, transport.url,
                             str(exc) or type(exc).__name__)
            raise
        return report

    async def _session(self, transport: Transport, report: SessionReport) -> None:
        peer = transport.peer
        mine = await self._call(self.log.version_vector)
        hello = await transport.hello({
            "vector": mine, "roster_version": self.trust.roster_version,
            "roster": None})
        theirs = parse_vector(hello.get("vector"), "peer vector")
        accepts = hello.get("accept")
        if hello.get("roster") is not None:
            note = await self._offered_roster(hello["roster"])
            report.roster = note.replace("adopted", "received")
        elif type(hello.get("roster_version")) is int \
                and hello["roster_version"] < self.trust.roster_version \
                and self.trust.roster is not None:
            again = await transport.hello({"vector": mine,
                                           "roster_version": self.trust.roster_version,
                                           "roster": self.trust.roster.to_json()})
            report.roster = f"sent v{self.trust.roster_version}"
            accepts = again.get("accept")  # its keyring may have changed with the roster
            verdict = again.get("roster_note")
            if isinstance(verdict, str) and verdict.startswith("refused"):
                report.roster += f" ({verdict})"
        await self._pull_all(transport, report)
        theirs = await self._push_all(transport, theirs, accepts, report)
        await self._blobs(transport, report)
        await self._call(peerstate.record_contact, self.log, peer, transport.url, theirs,
                         report.pushed, report.pulled)
        moved = report.pulled or report.pushed or report.rejected or report.roster
        logger.log(logging.INFO if moved else logging.DEBUG, "sync %s", report.line())

    async def _pull_all(self, transport: Transport, report: SessionReport) -> None:
        """Pull batches until the peer has nothing more for us. The next batch is asked
        for (with the vector we will hold if this one applies) while this one is being
        verified and committed; if it does not apply, the prefetched one only defers."""
        accept = self.trust.keyring().names()
        mine = await self._call(self.log.version_vector)
        fetch = asyncio.ensure_future(transport.pull(mine, self.settings.batch_events, accept))
        try:
            for _ in range(MAX_ROUNDS):
                batch = await fetch
                report.bytes_in += len(batch)
                wire = decode_batch(batch)
                if not wire:
                    return
                mine = _advanced(mine, ((e["origin"], e["seq"]) for e in wire))
                fetch = asyncio.ensure_future(
                    transport.pull(mine, self.settings.batch_events, accept))
                applied = await self.runner.ingest(self.log.apply_wire, wire)
                report.pulled += applied.applied
                report.duplicates += applied.duplicates
                report.rejected += [f"{r.event}: {r.reason}" for r in applied.rejected]
                if applied.applied:
                    self._on_change()
                else:
                    if applied.rejected:
                        raise _refused(transport.peer, "its batch", applied.rejected[0].detail,
                                       len(applied.rejected))
                    if applied.deferred:
                        logger.warning("sync %s: batch from %s made no progress (%d "
                                       "deferred)", self.name, transport.peer,
                                       len(applied.deferred))
                    return
        finally:
            fetch.cancel()  # a prefetch not needed (or the session failed)
            await asyncio.gather(fetch, return_exceptions=True)

    async def _push_all(self, transport: Transport, theirs: Vector, accepts: Any,
                        report: SessionReport) -> Vector:
        """Push batches of what the peer lacks; the next batch is planned while the peer
        verifies and commits this one."""
        allowed = _accepted(offer_filter(self.trust, transport.peer), accepts)
        limit = self.settings.batch_events
        events = await self._call(plan, self.log, theirs, allowed, limit)
        for _ in range(MAX_ROUNDS):
            if not events:
                return theirs
            # The peer refuses bodies over its api.max_body_bytes (1 MiB by default).
            batch, sent = await self._call(encode_fitting, events, MAX_PUSH_BYTES,
                                           self.trust.keyring())
            if not sent:
                return theirs  # nothing this node can vouch for (see protocol.vouched)
            report.bytes_out += len(batch)
            sending = asyncio.ensure_future(transport.push(batch))
            hoped = _advanced(theirs, ((e.origin, e.seq) for e in sent))
            try:
                events = await self._call(plan, self.log, hoped, allowed, limit)
            finally:
                answer = await sending
            applied = _count(answer.get("applied"))
            report.pushed += applied
            report.duplicates += _count(answer.get("duplicates"))
            rejected = answer.get("rejected") or []
            report.rejected += [f"{r.get('event')}: {r.get('reason')}" for r in rejected
                                if isinstance(r, dict)]
            theirs = parse_vector(answer.get("vector"), "push answer vector")
            if not applied:
                if rejected:
                    first = rejected[0].get("detail") if isinstance(rejected[0], dict) else None
                    raise _refused(transport.peer, "our batch", str(first), len(rejected))
                return theirs
        return theirs

    async def _blobs(self, transport: Transport, report: SessionReport) -> None:
        budget = self.settings.blob_budget_bytes
        used = 0
        for digest in await self._call(self.log.missing_blobs):
            if used >= budget:
                break
            try:
                mime, data = await transport.get_blob(digest)
            except NotFoundError:
                continue
            if hashlib.sha256(data).hexdigest() != digest:
                raise ProtocolError(f"blob {digest[:12]} from {transport.peer} does not "
                                    "match its sha256")
            used += len(data)
            report.bytes_in += len(data)
            await self._call(self.log.put_blob, data, mime)
            report.blobs_in += 1
        used = 0
        for digest in await transport.missing_blobs():
            try:
                mime, data = await self._call(self.log.blob, digest)
            except NotFoundError:
                continue
            if used + len(data) > budget or len(data) > MAX_PUSH_BYTES:
                continue  # too big to push: the peer fetches it when it starts a session
            used += len(data)
            report.bytes_out += len(data)
            await transport.put_blob(digest, mime, data)
            report.blobs_out += 1


def _refused(peer: str, whose: str, first: str, count: int) -> PeerRefused:
    """A batch refused whole: the session fails, so the scheduler backs off this peer
    instead of sending (or fetching) the same refused batch again at once."""
    return PeerRefused(422, f"{peer}: {whose} was refused whole ({count} event(s); first: "
                            f"{first[:200]}); backing off")


def _accepted(allowed: Callable[[str], bool], accept: Any) -> Callable[[str], bool]:
    """Narrow ``allowed`` to the origins the receiver said it accepts (its keyring), so
    events it would refuse (unknown or revoked origins) are not sent again and again."""
    if not isinstance(accept, list):
        return allowed
    names = {a for a in accept if isinstance(a, str)}
    return lambda origin: origin in names and allowed(origin)


def _advanced(vector: Vector, held: Iterable[tuple[Any, Any]]) -> Vector:
    """``vector`` raised by the (origin, seq) pairs of a batch (as if it applied)."""
    out = dict(vector)
    for origin, seq in held:
        if isinstance(origin, str) and isinstance(seq, int) and seq > out.get(origin, 0):
            out[origin] = seq
    return out


def _count(value: Any) -> int:
    """A count from a peer's answer (anything else counts as 0)."""
    return value if type(value) is int and value >= 0 else 0


def _apply_batch(log: IncidentLog, batch: bytes) -> ApplyReport:
    """Inflate, parse and apply a pushed batch on the store thread, in its ingest slot:
    on the event loop, a fleet's batches would hold up every other request behind them."""
    return log.apply_wire(decode_batch(batch))
