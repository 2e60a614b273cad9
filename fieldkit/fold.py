"""The deterministic fold of an incident's events into its state.

Any node holding the same set of events computes byte-identical state (compare
:func:`canonical_json` of :func:`fold`), whatever order the events arrived in and with
duplicates: the fold dedupes by event id and walks events in :attr:`Event.order_key`
order (hybrid logical time, then origin, then seq).

Conflict rule (documented in the README): each field of :data:`REGISTER_FIELDS` is a
multi-value register. A write names in ``base`` the writes it saw and replaces. The
field's *heads* are the writes no other write replaces. One head: that is the value.
Several heads with different values are concurrent edits: the head latest in
``order_key`` wins, and the incident carries a conflict listing every candidate until a
crew member writes the field again, which replaces all the heads it saw. Assignments are
an add-wins set (an unassign removes only the assignments it saw); notes, attachments
and links only grow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from fieldkit.events import Event, canonical_json
from fieldkit.hlc import to_wall_ms
from fieldkit.vocabulary import REGISTER_FIELDS, Status

_CREATE_DEFAULTS: dict[str, Any] = {"location": None, "description": "", "status": Status.NEW}


def fold(events: Iterable[Event]) -> dict[str, Any] | None:
    """The state of one incident, or None while its `create` event is missing."""
    ordered = sorted({e.id: e for e in events}.values(), key=lambda e: e.order_key)
    creates = [e for e in ordered if e.kind == "create"]
    if not creates:
        return None
    writes: dict[str, list[tuple[Event, Any, list[str]]]] = {f: [] for f in REGISTER_FIELDS}
    transitions, notes, attachments, links, adds = [], [], [], [], []
    removed: set[str] = set()
    for e in ordered:
        p = e.payload
        if e.kind == "create":
            for name in REGISTER_FIELDS:
                writes[name].append((e, p.get(name, _CREATE_DEFAULTS.get(name)), []))
            transitions.append(_stamp(e, status=Status.NEW.value))
        elif e.kind == "set":
            writes[p["field"]].append((e, p["value"], p["base"]))
        elif e.kind == "status":
            writes["status"].append((e, p["status"], p["base"]))
            transitions.append(_stamp(e, status=p["status"], reason=p.get("reason", "")))
        elif e.kind == "assign":
            adds.append(_stamp(e, agency=p["agency"], unit=p["unit"]))
        elif e.kind == "unassign":
            removed.update(p["base"])
        elif e.kind == "note":
            notes.append(_stamp(e, text=p["text"]))
        elif e.kind == "attach":
            attachments.append(_stamp(e, blob=p["blob"], name=p["name"], mime=p["mime"],
                                      size=p["size"]))
        elif e.kind == "link":
            links.append(_stamp(e, target=p["target"], ref=p["ref"]))
        # Kinds from a newer fieldkit are kept and relayed but not folded.

    state: dict[str, Any] = {"id": creates[0].incident}
    heads: dict[str, list[str]] = {}
    conflicts = []
    for name, field_writes in writes.items():
        replaced = {ref for _, _, base in field_writes for ref in base}
        live = [(e, value) for e, value, _ in field_writes if e.id not in replaced]
        state[name] = live[-1][1]  # `ordered` is in order_key order: the last head wins
        heads[name] = [e.id for e, _ in live]
        if len({canonical_json(value) for _, value in live}) > 1:
            conflicts.append({
                "field": name,
                "winner": live[-1][1],
                "candidates": [_stamp(e, value=value) for e, value in live],
            })
    status_times: dict[str, int] = {}
    for t in transitions:
        status_times.setdefault(t["status"], t["at"])
    first = creates[0]
    state.update(
        source=first.payload.get("source", "crew"),
        reported_by=first.origin,
        created_at=to_wall_ms(first.hlc),
        updated_at=to_wall_ms(ordered[-1].hlc),
        status_times=status_times,
        transitions=transitions,
        assigned=_unique([a for a in adds if a["event"] not in removed], ("agency", "unit")),
        notes=notes,
        attachments=_unique(attachments, ("blob",)),
        links=_unique(links, ("target", "ref")),
        conflicts=conflicts,
        heads=heads,
        events=len(ordered),
    )
    return state


def _stamp(e: Event, **data: Any) -> dict[str, Any]:
    return {**data, "by": e.origin, "at": to_wall_ms(e.hlc), "event": e.id}


def _unique(items: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Keep the first item for each key (items are in fold order)."""
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for item in items:
        key = tuple(item[k] for k in keys)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


class _Read(BaseModel):
    model_config = ConfigDict(frozen=True)


class Stamp(_Read):
    by: str
    """Node that wrote the event."""
    at: int
    """Wall-clock milliseconds (from the event's hybrid logical clock)."""
    event: str
    """Event id, ``origin:seq``."""


class Transition(Stamp):
    status: Status
    reason: str = ""


class Assignment(Stamp):
    agency: str
    unit: str


class Note(Stamp):
    text: str


class Attachment(Stamp):
    blob: str
    name: str
    mime: str
    size: int
    expired_at: int | None = None
    """When this node pruned the content (retention), wall-clock ms; None: held or never
    held. A local fact read beside the fold (:mod:`fieldkit.retention`), not folded."""


class Link(Stamp):
    target: str
    ref: str


class Candidate(Stamp):
    value: Any


class Conflict(_Read):
    field: str
    winner: Any
    candidates: list[Candidate]


class Incident(_Read):
    """Typed read view of a folded incident (the stored state JSON)."""

    id: str
    title: str
    kind: str
    severity: int
    status: Status
    description: str
    location: dict[str, Any] | None
    source: str
    reported_by: str
    created_at: int
    updated_at: int
    status_times: dict[str, int]
    transitions: list[Transition]
    assigned: list[Assignment]
    notes: list[Note]
    attachments: list[Attachment]
    links: list[Link]
    conflicts: list[Conflict]
    heads: dict[str, list[str]]
    events: int
