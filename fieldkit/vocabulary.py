"""The words of the incident log: kinds, statuses, agencies, sources, and locations.

Kept apart from the events and the fold so that both, the API and the CLI share one
definition of what a valid value is.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator


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


Severity = Annotated[
    int, Field(ge=1, le=5, strict=True, description="1 (minor) to 5 (mass casualty)")
]
Title = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]

#: Fields an incident keeps as a register: one value, concurrent writes surface as a conflict.
REGISTER_FIELDS = ("title", "kind", "severity", "location", "description", "status")
#: Of those, the ones a `set` event may change (status has its own event kind).
SETTABLE_FIELDS = ("title", "kind", "severity", "location", "description")


class Location(BaseModel):
    """Where an incident is: a WGS84 point with accuracy, and/or a zone or camera."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    accuracy_m: float | None = Field(None, ge=0, le=100_000, allow_inf_nan=False)
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
        return self
