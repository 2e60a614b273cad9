"""Incident exports: JSON, CSV and GeoJSON (RFC 7946)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fieldkit.fold import Incident

FORMATS = ("json", "csv", "geojson")
CSV_COLUMNS = (
    "id", "title", "kind", "severity", "status", "source", "reported_by", "lat", "lon",
    "accuracy_m", "zone", "camera", "created_at", "updated_at", "acknowledged_at",
    "dispatched_at", "on_scene_at", "resolved_at", "closed_at", "assigned", "notes",
    "conflicts",
)


def iso(ms: int | None) -> str:
    """Milliseconds since the epoch as ISO 8601 UTC, '' for None."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def export(incidents: Sequence[Incident], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([i.model_dump(mode="json") for i in incidents], indent=2) + "\n"
    if fmt == "csv":
        return _csv(incidents)
    if fmt == "geojson":
        return json.dumps(geojson(incidents), indent=2) + "\n"
    raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")


def _csv(incidents: Sequence[Incident]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for i in incidents:
        loc = i.location or {}
        times = i.status_times
        writer.writerow({
            "id": i.id, "title": i.title, "kind": i.kind, "severity": i.severity,
            "status": i.status.value, "source": i.source, "reported_by": i.reported_by,
            "lat": loc.get("lat", ""), "lon": loc.get("lon", ""),
            "accuracy_m": loc.get("accuracy_m", ""), "zone": loc.get("zone", ""),
            "camera": loc.get("camera", ""), "created_at": iso(i.created_at),
            "updated_at": iso(i.updated_at),
            **{f"{s}_at": iso(times.get(s))
               for s in ("acknowledged", "dispatched", "on_scene", "resolved", "closed")},
            "assigned": "; ".join(f"{a.agency}:{a.unit}" for a in i.assigned),
            "notes": len(i.notes), "conflicts": len(i.conflicts),
        })
    return out.getvalue()


def geojson(incidents: Sequence[Incident]) -> dict[str, Any]:
    """A FeatureCollection; incidents placed only by zone or camera get a null geometry."""
    features = []
    for i in incidents:
        loc = i.location or {}
        geometry = None
        if loc.get("lat") is not None:
            # RFC 7946: positions are [longitude, latitude].
            geometry = {"type": "Point", "coordinates": [loc["lon"], loc["lat"]]}
        features.append({
            "type": "Feature",
            "id": i.id,
            "geometry": geometry,
            "properties": {
                "title": i.title, "kind": i.kind, "severity": i.severity,
                "status": i.status.value, "source": i.source, "reported_by": i.reported_by,
                "accuracy_m": loc.get("accuracy_m"),
                "located_at": iso(loc["at_ms"]) if loc.get("at_ms") is not None else None,
                "zone": loc.get("zone"),
                "camera": loc.get("camera"), "created_at": iso(i.created_at),
                "updated_at": iso(i.updated_at),
                "assigned": [f"{a.agency}:{a.unit}" for a in i.assigned],
            },
        })
    return {"type": "FeatureCollection", "features": features}
