"""Events: the immutable, signed, hash-chained records the incident log is made of.

Each origin's events form a chain: event ``n`` carries the hash of event ``n-1`` in
``prev``, and its own ``hash`` covers every field, ``prev`` included. Every event is
signed (Ed25519 over its hash), so a receiver that checks the chain needs to verify only
the signature of the last event of a run: that one signature vouches for every event
before it. A relay can therefore neither forge, alter, reorder nor drop an event from the
middle of another node's log without the receiver noticing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from fieldkit.errors import EventError
from fieldkit.identity import NodeIdentity
from fieldkit.strict import Strict, describe
from fieldkit.vocabulary import (
    NO_CONTROLS_BUT_TAB_NEWLINE,
    SETTABLE_FIELDS,
    Agency,
    IncidentKind,
    LinkTarget,
    Location,
    Name,
    Severity,
    Source,
    Status,
    Text,
    Title,
)

FORMAT_VERSION = 1
GENESIS = "0" * 64
MAX_PAYLOAD_BYTES = 64 * 1024
_SIGNING_CONTEXT = b"fieldkit/event/v1\x00"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_KIND_RE = re.compile(r"^[a-z][a-z_]{0,31}$")
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}:[1-9][0-9]{0,18}$"


def canonical_json(value: Any) -> str:
    """The one serialisation that is hashed and stored: sorted keys, no spaces, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


@dataclass(frozen=True, slots=True)
class Event:
    """One immutable change to one incident."""

    origin: str
    """Name of the node that wrote the event."""
    seq: int
    """Position in the origin's chain, from 1, without gaps."""
    hlc: int
    """Hybrid logical clock timestamp (see :mod:`fieldkit.hlc`)."""
    incident: str
    """UUIDv7 of the incident."""
    kind: str
    """What the event does: one of :data:`PAYLOADS` (unknown kinds are kept, not folded)."""
    payload: dict[str, Any]
    """Kind-specific data."""
    prev: str
    """Hash of the origin's previous event, or :data:`GENESIS` for seq 1."""
    hash: str
    """sha256 over the canonical body (all fields above)."""
    sig: str
    """Base64 Ed25519 signature of the origin over ``hash``."""

    @property
    def id(self) -> str:
        return f"{self.origin}:{self.seq}"

    @property
    def order_key(self) -> tuple[int, str, int]:
        """Total order used by the fold: time, then origin, then seq."""
        return (self.hlc, self.origin, self.seq)

    def compute_hash(self) -> str:
        return body_hash(self.origin, self.seq, self.hlc, self.incident, self.kind,
                         self.payload, self.prev)

    def signature_valid(self, verify: Any) -> bool:
        """``verify(origin, signature, message) -> bool``, e.g. :meth:`Keyring.verify`."""
        return bool(verify(self.origin, base64.b64decode(self.sig), signing_message(self.hash)))

    def to_wire(self) -> dict[str, Any]:
        return {
            "origin": self.origin, "seq": self.seq, "hlc": self.hlc,
            "incident": self.incident, "kind": self.kind, "payload": self.payload,
            "prev": self.prev, "hash": self.hash, "sig": self.sig,
        }

    @classmethod
    def from_wire(cls, data: Any) -> Event:
        """Check an envelope's types and sizes; does not check hash, chain or signature."""
        if not isinstance(data, dict):
            raise EventError(f"event must be a JSON object, got {type(data).__name__}")
        missing = _WIRE_FIELDS - data.keys()
        if missing:
            raise EventError(f"event lacks {', '.join(sorted(missing))}")
        extra = data.keys() - _WIRE_FIELDS
        if extra:
            raise EventError(f"event has unknown field(s) {', '.join(sorted(extra))}")
        origin, seq, hlc = data["origin"], data["seq"], data["hlc"]
        if not isinstance(origin, str) or not _NAME_RE.match(origin):
            raise EventError(f"event origin {origin!r} is not a node name")
        if type(seq) is not int or not 1 <= seq < 1 << 63:
            raise EventError(f"event {origin}: seq {seq!r} is not a positive integer")
        where = f"event {origin}:{seq}"
        if type(hlc) is not int or not 0 <= hlc < 1 << 63:
            raise EventError(f"{where}: hlc {hlc!r} is not a non-negative integer")
        if not isinstance(data["incident"], str) or not _UUID_RE.match(data["incident"]):
            raise EventError(f"{where}: incident {data['incident']!r} is not a UUID")
        if not isinstance(data["kind"], str) or not _KIND_RE.match(data["kind"]):
            raise EventError(f"{where}: kind {data['kind']!r} is not an event kind")
        if not isinstance(data["payload"], dict):
            raise EventError(f"{where}: payload must be a JSON object")
        for name in ("prev", "hash"):
            if not isinstance(data[name], str) or not _HEX64_RE.match(data[name]):
                raise EventError(f"{where}: {name} is not 64 lowercase hex digits")
        sig = data["sig"]
        try:
            raw_sig = base64.b64decode(sig, validate=True) if isinstance(sig, str) else b""
        except (binascii.Error, ValueError):
            raw_sig = b""
        if len(raw_sig) != 64:
            raise EventError(f"{where}: sig is not a base64 Ed25519 signature")
        try:
            size = len(canonical_json(data["payload"]).encode())
        except (TypeError, ValueError) as exc:
            raise EventError(f"{where}: payload is not plain JSON: {exc}") from exc
        if size > MAX_PAYLOAD_BYTES:
            raise EventError(f"{where}: payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES}")
        return cls(origin, seq, hlc, data["incident"], data["kind"], data["payload"],
                   data["prev"], data["hash"], sig)


_WIRE_FIELDS = frozenset(Event.__dataclass_fields__)


def body_hash(origin: str, seq: int, hlc: int, incident: str, kind: str,
              payload: dict[str, Any], prev: str) -> str:
    body = canonical_json([FORMAT_VERSION, origin, seq, hlc, incident, kind, payload, prev])
    return hashlib.sha256(body.encode()).hexdigest()


def signing_message(event_hash: str) -> bytes:
    return _SIGNING_CONTEXT + bytes.fromhex(event_hash)


def seal(identity: NodeIdentity, *, seq: int, hlc: int, incident: str, kind: str,
         payload: dict[str, Any], prev: str) -> Event:
    """Make a new event of this node: hash it into the chain and sign it."""
    digest = body_hash(identity.name, seq, hlc, incident, kind, payload, prev)
    sig = base64.b64encode(identity.sign(signing_message(digest))).decode("ascii")
    return Event(identity.name, seq, hlc, incident, kind, payload, prev, digest, sig)


# --- payloads ---------------------------------------------------------------------------

EventId = Annotated[str, Field(pattern=EVENT_ID_PATTERN)]
Description = Annotated[str, Field(max_length=4000), NO_CONTROLS_BUT_TAB_NEWLINE]


class _Payload(Strict):
    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class CreatePayload(_Payload):
    title: Title
    kind: IncidentKind
    severity: Severity
    source: Source = Source.CREW
    location: Location | None = None
    description: Description = ""


class SetPayload(_Payload):
    """Set one field. ``base`` lists the events whose value this write replaces."""

    field: Literal["title", "kind", "severity", "location", "description"]
    value: Any
    base: list[EventId] = Field(max_length=64)

    @model_validator(mode="after")
    def _value_fits_field(self) -> SetPayload:
        try:
            FIELD_ADAPTERS[self.field].validate_python(self.value)
        except ValidationError as exc:
            raise ValueError(f"{self.field}: {describe(exc, echo=False)}") from None
        return self


class StatusPayload(_Payload):
    status: Status
    base: list[EventId] = Field(max_length=64)
    reason: Annotated[str, Field(max_length=4000), NO_CONTROLS_BUT_TAB_NEWLINE] = ""


class AssignPayload(_Payload):
    agency: Agency
    unit: Name


class UnassignPayload(_Payload):
    agency: Agency
    unit: Name
    base: list[EventId] = Field(min_length=1, max_length=64)


class NotePayload(_Payload):
    text: Text


class AttachPayload(_Payload):
    blob: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the content")
    name: Name
    mime: str = Field(pattern=r"^[\w.+-]+/[\w.+-]+$", max_length=128)
    size: int = Field(ge=0)


class LinkPayload(_Payload):
    target: LinkTarget
    ref: Name


#: Validator of each settable field's value, shared by `create` and `set`.
FIELD_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "title": TypeAdapter(Title),
    "kind": TypeAdapter(IncidentKind),
    "severity": TypeAdapter(Severity),
    "location": TypeAdapter(Location),
    "description": TypeAdapter(Description),
}
assert set(FIELD_ADAPTERS) == set(SETTABLE_FIELDS)

#: Event kind -> payload model. Events of other kinds (from a newer fieldkit) are kept
#: and relayed but not folded.
PAYLOADS: dict[str, type[_Payload]] = {
    "create": CreatePayload,
    "set": SetPayload,
    "status": StatusPayload,
    "assign": AssignPayload,
    "unassign": UnassignPayload,
    "note": NotePayload,
    "attach": AttachPayload,
    "link": LinkPayload,
}


def check_payload(kind: str, payload: dict[str, Any]) -> str | None:
    """Why a payload of a known kind is invalid, or None if it is valid (or kind unknown)."""
    model = PAYLOADS.get(kind)
    if model is None:
        return None
    try:
        model.model_validate(payload)
    except ValidationError as exc:
        return f"{kind} payload: {describe(exc, echo=False)}"
    return None
