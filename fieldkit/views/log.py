"""Views of the incident log: health, events, what a batch of foreign events did, and
the HQ answers built on incidents (calls, CAP). Incidents themselves are
:class:`fieldkit.fold.Incident`, the fold's own model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from fieldkit.fold import Incident
from fieldkit.views._base import View
from fieldkit.vocabulary import Status


class HealthView(View):
    """``GET /api/health``: who this node is and what its log holds."""

    status: Literal["ok"] = Field(description="Always ok: the node answered")
    integrity: str = Field("unknown", description=(
        "ok, or what the store's integrity check (at start and every 10 min) or a read "
        "found damaged; unknown from a node older than this field"))
    node: str = Field(description="This node's name")
    role: Literal["truck", "hq"] = Field(description="truck or hq")
    version: str = Field(description="fieldkit version")
    uptime_s: float = Field(ge=0, description="Seconds since the API started")
    public_key: str = Field(description="This node's Ed25519 public key (base64)")
    events: int = Field(ge=0, description="Events held (all origins)")
    cursor: int = Field(ge=0, description="Live-stream cursor: resume after it")
    incidents: int = Field(ge=0, description="Incidents held")
    by_status: dict[str, int] = Field(description="Incidents per status")
    open: int = Field(ge=0, description="Incidents not resolved or closed")
    origins: dict[str, int] = Field(description="Highest event seq held per origin node")
    rejected: int = Field(ge=0, description="Foreign events refused so far")


class EventView(View):
    """One event in wire form (as signed by its origin)."""

    origin: str = Field(description="Node that wrote the event")
    seq: int = Field(ge=1, description="Position in the origin's chain")
    hlc: int = Field(ge=0, description="Hybrid logical clock timestamp")
    incident: str = Field(description="Incident id (UUIDv7)")
    kind: str = Field(description="create, set, status, assign, note, link, attach, ...")
    payload: dict[str, Any] = Field(description="Kind-specific data")
    prev: str = Field(description="Hash of the origin's previous event")
    hash: str = Field(description="sha256 of the canonical body")
    sig: str = Field(description="Base64 Ed25519 signature of the origin over the hash")


class RejectionView(View):
    event: str = Field(description="origin:seq, or ? when unreadable")
    reason: str = Field(description="malformed, unknown_origin, fork, broken_chain, ...")
    detail: str = Field(description="A sentence for the operator")


class ApplyView(View):
    """``POST /api/events``: what the node did with the batch (422 when any was refused)."""

    applied: int = Field(ge=0, description="Events new to this node, now stored")
    duplicates: int = Field(ge=0, description="Events already held")
    deferred: list[str] = Field(description="Held back until an earlier event arrives")
    rejected: list[RejectionView] = Field(description="Events refused, with the reason")
    error: str | None = Field(None, description="Set when any event was refused")


class CallView(View):
    """``POST /api/calls``: the incident a call made or joined (201 new, 200 merged)."""

    incident: Incident
    merged: bool = Field(description="The call joined an existing incident")
    distance_m: float | None = Field(description="Caller to the merged incident, metres")
    cameras: list[str] = Field(description="Cameras linked: their footprint covers the caller")
    drone: str | None = Field(description="The nearest live drone, linked")


class CapRef(View):
    incident: str = Field(description="Incident id")
    severity: int = Field(ge=1, le=5, description="1 minor .. 5 mass casualty")
    status: Status
    url: str = Field(description="Where the CAP 1.2 XML is")


class CapListView(View):
    """``GET /api/hq/cap``: incidents severe enough for a CAP alert."""

    sender: str = Field(description="CAP sender")
    alerts: list[CapRef]


class GeoJsonView(View):
    """``GET /api/hq/geojson``: an RFC 7946 FeatureCollection (incidents, camera
    footprints, drones, this truck; ``properties.layer`` says which)."""

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]
