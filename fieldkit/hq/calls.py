"""Emergency calls: what a call-taker enters, checked field by field, and the local table
that keeps callers' numbers.

A callback number is personal data. It is stored only in this node's ``call_contacts``
table (never synced, never in an event) unless ``hq.share_callback_numbers`` is set. It
never appears in logs or error messages: a bad number is refused by naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError

from fieldkit.errors import InvalidActionError
from fieldkit.storeapi import Connection
from fieldkit.strict import Strict, describe
from fieldkit.vocabulary import IncidentKind, Location, Severity, Text, Title

CALLBACK_PATTERN = r"^\+?[0-9][0-9 ()./-]{2,30}$"


def _phone_number(value: str) -> str:
    # A validator's message rather than pydantic's pattern error: it says what a number
    # looks like and never repeats the value given.
    if re.fullmatch(CALLBACK_PATTERN, value) is None:
        raise ValueError("callback: not a phone number (digits, optionally a leading +, "
                         "spaces, dots, dashes or brackets; 3 to 31 characters)")
    return value


class Call(Strict):
    """One emergency call as the call-taker enters it."""

    location: Location = Field(description="Where the caller says it is (lat/lon, zone)")
    kind: IncidentKind = Field(description="What the caller reports")
    description: Text = Field(description="What the caller said")
    callback: Annotated[str, AfterValidator(_phone_number)] = Field(
        description="Caller's number", json_schema_extra={"pattern": CALLBACK_PATTERN})
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
        raise InvalidActionError(f"call refused: {describe(exc, echo=False)}") from exc


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
