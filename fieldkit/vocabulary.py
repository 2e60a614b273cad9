"""The words of the incident log: kinds, statuses, agencies, sources, and locations.

Kept apart from the events and the fold so that both, the API and the CLI share one
definition of what a valid value is.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from fieldkit.strict import Strict


class IncidentKind(StrEnum):
    CROWD_DENSITY = "crowd_density"
    CROWD_FLOW = "crowd_flow"
    PERSON_DOWN = "person_down"
    MEDICAL = "medical"
    FIRE = "fire"
    FIGHT = "fight"
    LOST_PERSON = "lost_person"
    SUSPICIOUS_OBJECT = "suspicious_object"
    TRAFFIC = "traffic"
    DRONE = "drone"
    CAMERA_FAULT = "camera_fault"
    # The node's own hardware (fieldkit.hardware.health): what a crew must fix on the truck.
    NODE_DISK = "node_disk"
    NODE_HEAT = "node_heat"
    NODE_POWER = "node_power"
    NODE_CLOCK = "node_clock"
    # The city's sensors and transit (sensors/): a silent sensor; a transit breakdown.
    SENSOR_FAULT = "sensor_fault"
    TRANSPORT = "transport"
    OTHER = "other"


class Status(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        return self not in (Status.RESOLVED, Status.CLOSED)


class Agency(StrEnum):
    POLICE = "police"
    FIRE = "fire"
    MEDICAL = "medical"
    CIVIL_PROTECTION = "civil_protection"
    OTHER = "other"


class Source(StrEnum):
    CREW = "crew"
    ANALYTICS = "analytics"
    DRONE = "drone"
    CALL = "call"
    HARDWARE = "hardware"
    SENSOR = "sensor"


class LinkTarget(StrEnum):
    CAMERA = "camera"
    DRONE = "drone"


_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROLS_BUT_TAB_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _refuse(controls: re.Pattern[str], allowed: str) -> AfterValidator:
    """Control characters make CAP XML ill-formed and drive terminals (ANSI escapes):
    they are refused wherever text enters the log, from any source."""
    def check(value: str) -> str:
        found = controls.search(value)
        if found:
            raise ValueError(f"control character U+{ord(found.group()):04X} at position "
                             f"{found.start()} is not allowed{allowed}")
        return value

    return AfterValidator(check)


NO_CONTROLS = _refuse(_CONTROLS, "")
"""For one-line text: names, titles."""
NO_CONTROLS_BUT_TAB_NEWLINE = _refuse(CONTROLS_BUT_TAB_NEWLINE, " (only tab and newline are)")
"""For free text: notes, descriptions, reasons."""

Severity = Annotated[
    int, Field(ge=1, le=5, strict=True, description="1 (minor) to 5 (mass casualty)")
]
Title = Annotated[str, Field(min_length=1, max_length=200), NO_CONTROLS]
Text = Annotated[str, Field(min_length=1, max_length=4000), NO_CONTROLS_BUT_TAB_NEWLINE]
Name = Annotated[str, Field(min_length=1, max_length=64), NO_CONTROLS]

#: Fields an incident keeps as a register: one value, concurrent writes surface as a conflict.
REGISTER_FIELDS = ("title", "kind", "severity", "location", "description", "status")
#: Of those, the ones a `set` event may change (status has its own event kind).
SETTABLE_FIELDS = ("title", "kind", "severity", "location", "description")


class Location(Strict):
    """Where an incident is: a WGS84 point with accuracy and age, and/or a zone or camera."""

    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    accuracy_m: float | None = Field(None, ge=0, le=100_000, allow_inf_nan=False)
    at_ms: int | None = Field(None, ge=0, description=(
        "When lat/lon were measured (wall clock, ms), given when that may be well before "
        "the event (a drone's last known position); absent: when the event was written"))
    zone: Name | None = None
    camera: Name | None = None

    @model_validator(mode="after")
    def _complete(self) -> Location:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("location: lat and lon go together; give both or neither")
        if self.lat is None and self.zone is None and self.camera is None:
            raise ValueError("location: give lat/lon, a zone or a camera")
        if self.accuracy_m is not None and self.lat is None:
            raise ValueError("location: accuracy_m needs lat/lon")
        if self.at_ms is not None and self.lat is None:
            raise ValueError("location: at_ms needs lat/lon")
        return self
