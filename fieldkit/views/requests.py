"""Bodies the API accepts besides events' own payloads (:mod:`fieldkit.events`) and calls
(:class:`fieldkit.hq.calls.Call`).

Fields that name a vocabulary value stay ``str``, so the log refuses a bad one with its
own sentence; the document still lists the allowed values (``enum``).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field
from pydantic.json_schema import JsonDict

from fieldkit.strict import Strict
from fieldkit.vocabulary import Agency, LinkTarget, Name, Status, Text


def one_of(values: type[StrEnum]) -> JsonDict:
    """JSON schema listing ``values``."""
    return {"enum": [v.value for v in values]}


class StatusBody(Strict):
    status: str = Field(description="The new status", json_schema_extra=one_of(Status))
    reason: str = Field("", description="Why (shown in the incident's history)")


class AssignBody(Strict):
    agency: str = Field(description="The unit's agency", json_schema_extra=one_of(Agency))
    unit: Name = Field(description="The unit's call sign")


class NoteBody(Strict):
    text: Text = Field(description="The note")


class LinkBody(Strict):
    target: str = Field(description="What is linked", json_schema_extra=one_of(LinkTarget))
    ref: Name = Field(description="Its name")
