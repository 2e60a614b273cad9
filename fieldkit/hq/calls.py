"""Emergency calls: what a call-taker enters, checked field by field, and the local table
that keeps callers' numbers.

A callback number is personal data. It is stored only in this node's ``call_contacts``
table (never synced, never in an event) unless ``hq.share_callback_numbers`` is set. It
never appears in logs or error messages: a bad number is refused by naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fieldkit.errors import InvalidActionError
from fieldkit.storeapi import Connection
from fieldkit.vocabulary import IncidentKind, Location, Severity, Text, Title

CALLBACK_PATTERN = r"^\+?[0-9][0-9 ()./-]{2,30}$"


class Call(BaseModel):
    """One emergency call as the call-taker enters it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    location: Location = Field(description="Where the caller says it is (lat/lon, zone)")
    kind: IncidentKind = Field(description="What the caller reports")
    description: Text = Field(description="What the caller said")
    callback: str = Field(pattern=CALLBACK_PATTERN, description="Caller's number")
    severity: Severity = 3
    title: Title | None = None

    def incident_title(self) -> str:
        if self.title:
            return self.title
        return f"Call: {self.kind.value.replace('_', ' ')}"


def parse_call(data: Any) -> Call:
    """Validate ``data`` (a dict, e.g. a JSON body) into a :class:`Call`.

    Raises :class:`InvalidActionError` naming every bad field and why, without echoing
    the values given (a callback number must not end up in a log).
    """
    if not isinstance(data, dict):
        raise InvalidActionError(f"a call must be a JSON object, got {type(data).__name__}")
    try:
        return Call.model_validate(data)
    except ValidationError as exc:
        raise InvalidActionError("call refused: " + "; ".join(
            _describe(e) for e in exc.errors())) from exc


def _describe(error: Any) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "call"
    if error["type"] == "missing":
        return f"{key}: missing, a value is required"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown field"
    if key == "callback" and error["type"] == "string_pattern_mismatch":
        return ("callback: not a phone number (digits, optionally a leading +, spaces, "
                "dots, dashes or brackets; 3 to 31 characters)")
    msg = str(error["msg"]).removeprefix("Value error, ")
    # Location's own checks already name the field ("location: lat and lon go together").
    return msg if msg.startswith(f"{key}: ") else f"{key}: {msg}"


@dataclass(frozen=True)
class CallContact:
    """A row of the local ``call_contacts`` table."""

    incident: str
    received_at: int
    """Node wall clock, ms."""
    callback: str
    merged: bool
    """Whether the call joined an incident that already existed."""


def record_contact(conn: Connection, contact: CallContact) -> None:
    """Store a caller's number locally (inside the caller's write transaction)."""
    conn.execute(
        "INSERT INTO call_contacts (incident, received_at, callback, merged)"
        " VALUES (?, ?, ?, ?)",
        [contact.incident, contact.received_at, contact.callback, int(contact.merged)])


def contacts_of(conn: Connection, incident_id: str) -> list[CallContact]:
    """The callers of one incident known to this node, oldest first."""
    rows = conn.execute(
        "SELECT incident, received_at, callback, merged FROM call_contacts"
        " WHERE incident = ? ORDER BY id", [incident_id])
    return [CallContact(r[0], int(r[1]), str(r[2]), bool(r[3])) for r in rows]
