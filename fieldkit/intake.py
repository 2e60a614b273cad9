"""Intake of foreign events: checking a batch against the chains this node holds.

Per origin, events must continue the chain held here. Each run is checked for sequence,
``prev`` links, hashes and payloads; then one signature, on the run's last event,
vouches for the whole run (bisecting to the longest signed prefix if it fails). Events
after a break are rejected; events past a gap are deferred until the gap is filled.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fieldkit.errors import EventError
from fieldkit.events import GENESIS, Event, check_payload
from fieldkit.hlc import to_wall_ms
from fieldkit.identity import Keyring
from fieldkit.storeapi import Connection
from fieldkit.view import SQL_CHUNK

Refusal = tuple[str, str, str]
"""(origin, reason code, detail), as counted in the ``rejections`` table."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """An event refused by :meth:`IncidentLog.apply`."""

    event: str
    """``origin:seq``, or ``?`` when the envelope was unreadable."""
    reason: str
    """Code: malformed, unknown_origin, fork, broken_chain, bad_hash, clock_backwards,
    clock_ahead, invalid_payload, bad_signature."""
    detail: str
    """A sentence for the operator."""


@dataclass
class ApplyReport:
    """What :meth:`IncidentLog.apply` did with a batch."""

    applied: int = 0
    """Events new to this node, now stored."""
    duplicates: int = 0
    """Events already held (identical)."""
    deferred: list[str] = field(default_factory=list)
    """Ids of events held back because an earlier event of their origin is missing."""
    rejected: list[Rejection] = field(default_factory=list)
    """Events refused, with the reason."""
    incidents: set[str] = field(default_factory=set)
    """Incidents whose state changed."""
    healed: list[Event] = field(default_factory=list)
    """Events held here whose signature did not verify, now replaced by this copy's
    (valid) one; also counted as duplicates."""


def parse_wire(items: Iterable[Any], keyring: Keyring) -> tuple[list[Event], list[Refusal]]:
    """Envelopes in JSON form -> events, and refusals for the unreadable ones."""
    events: list[Event] = []
    malformed: list[Refusal] = []
    for item in items:
        try:
            events.append(Event.from_wire(item))
        except EventError as exc:
            # Count under the claimed origin only if it is a known one: an attacker must
            # not be able to grow the counters table with made-up names.
            origin = item.get("origin") if isinstance(item, dict) else None
            known = origin if isinstance(origin, str) and origin in keyring else "?"
            malformed.append((known, "malformed", str(exc)))
    return events, malformed


@dataclass(frozen=True)
class Clock:
    """What intake accepts as a foreign event's time."""

    now_ms: int
    """This node's wall clock."""
    max_skew_ms: int
    """How far ahead of ``now_ms`` an event may be dated (``trust.max_clock_skew_s``)."""


def check_batch(conn: Connection, keyring: Keyring, events: Iterable[Event],
                report: ApplyReport, clock: Clock) -> tuple[list[Event], list[Refusal]]:
    """The events of a batch to store now, and the refusals to count.

    Duplicates and deferred events are tallied in ``report``; every refusal is also
    added to ``report.rejected``.
    """
    by_origin: dict[str, dict[int, Event]] = defaultdict(dict)
    refused: list[Refusal] = []

    def reject(e: Event, reason: str, detail: str) -> None:
        report.rejected.append(Rejection(e.id, reason, detail))
        refused.append((e.origin, reason, detail))

    for e in events:
        held = by_origin[e.origin].setdefault(e.seq, e)
        if held.hash != e.hash:
            reject(e, "fork", f"{e.id} arrived twice with different content")
    accepted: list[Event] = []
    for origin, by_seq in by_origin.items():
        batch = [by_seq[s] for s in sorted(by_seq)]
        if origin not in keyring:
            for e in batch:
                reject(e, "unknown_origin", f"{e.id}: origin {origin!r} is not trusted")
            continue
        accepted += _check_run(conn, keyring, origin, batch, report, reject, clock)
    return accepted, refused


def _check_run(conn: Connection, keyring: Keyring, origin: str, batch: list[Event],
               report: ApplyReport, reject: Callable[[Event, str, str], None],
               clock: Clock) -> list[Event]:
    head = conn.execute("SELECT seq, hash, hlc FROM events WHERE origin = ?"
                        " ORDER BY seq DESC LIMIT 1", [origin]).fetchone()
    head_seq, prev, prev_hlc = head or (0, GENESIS, -1)
    latest_ms = clock.now_ms + clock.max_skew_ms
    old = [e for e in batch if e.seq <= head_seq]
    held = _held(conn, origin, [e.seq for e in old])
    for e in old:
        held_hash, held_sig = held[e.seq]
        if held_hash != e.hash:
            reject(e, "fork", f"{e.id} differs from the event already held under that id")
        elif e.compute_hash() != e.hash:  # a tampered copy that kept the original hash
            reject(e, "bad_hash", f"{e.id}: content does not match its hash")
        else:
            report.duplicates += 1
            # Ed25519 is deterministic: a different signature means one of the two is not
            # the origin's. A copy held from a tampering relay is repaired by a true one.
            if e.sig != held_sig and e.signature_valid(keyring.verify):
                report.healed.append(e)
    run: list[Event] = []
    new = [e for e in batch if e.seq > head_seq]
    for i, e in enumerate(new):
        if e.seq != head_seq + len(run) + 1:
            report.deferred += [x.id for x in new[i:]]
            break
        problem = None
        if e.prev != prev:
            problem = ("broken_chain", f"{e.id} does not follow {origin}:{e.seq - 1}")
        elif e.compute_hash() != e.hash:
            problem = ("bad_hash", f"{e.id}: content does not match its hash")
        elif e.hlc <= prev_hlc:  # an origin's clock (HLC) only moves forward
            problem = ("clock_backwards", f"{e.id} is dated no later than "
                                          f"{origin}:{e.seq - 1}: its chain goes back in time")
        elif to_wall_ms(e.hlc) > latest_ms:
            ahead_s = (to_wall_ms(e.hlc) - clock.now_ms) // 1000
            problem = ("clock_ahead", f"{e.id} is dated {ahead_s} s ahead of this node's "
                                      f"clock; the limit is trust.max_clock_skew_s = "
                                      f"{clock.max_skew_ms // 1000}")
        elif why := check_payload(e.kind, e.payload):
            problem = ("invalid_payload", f"{e.id}: {why}")
        if problem:
            for x in new[i:]:
                reject(x, problem[0], problem[1] if x is e else f"{x.id}: after {e.id}")
            break
        run.append(e)
        prev, prev_hlc = e.hash, e.hlc
    signed = _signed_prefix(run, keyring)
    for e in run[signed:]:
        reject(e, "bad_signature", f"{e.id}: not signed by {origin}'s key")
    return run[:signed]


def _signed_prefix(run: list[Event], keyring: Keyring) -> int:
    """Length of the longest prefix whose last event carries a valid signature."""
    def ok(count: int) -> bool:
        return run[count - 1].signature_valid(keyring.verify)

    if not run or ok(len(run)):
        return len(run)
    lo, hi = 0, len(run) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _held(conn: Connection, origin: str, seqs: list[int]
          ) -> dict[int, tuple[str, str]]:
    """seq -> (hash, sig) of the events of ``origin`` held among ``seqs``."""
    held: dict[int, tuple[str, str]] = {}
    for i in range(0, len(seqs), SQL_CHUNK):
        chunk = seqs[i:i + SQL_CHUNK]
        marks = ",".join("?" * len(chunk))
        held.update((seq, (digest, sig)) for seq, digest, sig in conn.execute(
            f"SELECT seq, hash, sig FROM events WHERE origin = ? AND seq IN ({marks})",
            [origin, *chunk]))
    return held


def count_rejections(conn: Connection, refused: list[Refusal], now_ms: int) -> None:
    """Add refusals to the per-origin, per-reason counters."""
    last_detail = {(o, r): d for o, r, d in refused}
    for (origin, reason), n in Counter((o, r) for o, r, _ in refused).items():
        conn.execute(
            "INSERT INTO rejections (origin, reason, count, last_at, last_detail)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin, reason) DO UPDATE SET"
            " count = count + excluded.count, last_at = excluded.last_at,"
            " last_detail = excluded.last_detail",
            [origin, reason, n, now_ms, last_detail[(origin, reason)]])
