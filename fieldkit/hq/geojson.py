"""The HQ picture as one GeoJSON FeatureCollection (RFC 7946): the incidents as
:func:`fieldkit.export.geojson` writes them (``layer = "incident"``, plus their links),
camera footprints as polygons, live drones, this truck and the zones city sensors
reported (``layer = "zone"``, with their state, and ``sensors_silent``: what its node's
open silent-sensor incident says, None when all its sensors report) as points. Positions are
``[longitude, latitude]``; polygons are closed and counter-clockwise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fieldkit.export import geojson, iso
from fieldkit.fold import Incident
from fieldkit.hq.cot import TruckPosition
from fieldkit.hq.fleet import silent_sensors, zone_states
from fieldkit.hq.fusion import DronePosition, Footprint


def picture_geojson(incidents: Sequence[Incident], footprints: Sequence[Footprint] = (),
                    drones: Sequence[DronePosition] = (), truck: TruckPosition | None = None,
                    node: str = "") -> dict[str, Any]:
    collection = geojson(incidents)
    by_id = {i.id: i for i in incidents}
    for feature in collection["features"]:
        incident = by_id[feature["id"]]
        feature["properties"].update(
            layer="incident",
            links=[f"{link.target}:{link.ref}" for link in incident.links],
            description=incident.description)
    features: list[dict[str, Any]] = collection["features"]
    for fp in footprints:
        ring = [[round(lon, 7), round(lat, 7)] for lat, lon in fp.latlon()]
        if len(ring) < 3:
            continue
        ring.append(ring[0])
        features.append({"type": "Feature", "id": f"camera:{fp.camera}",
                         "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {"layer": "camera", "name": fp.camera}})
    for d in drones:
        features.append({"type": "Feature", "id": f"drone:{d.vehicle}",
                         "geometry": {"type": "Point", "coordinates": [d.lon, d.lat]},
                         "properties": {"layer": "drone", "name": d.vehicle,
                                        "sampled_at": iso(d.at_ms)}})
    silent = silent_sensors(incidents)
    for zone in zone_states(incidents):
        if zone["lat"] is None or zone["lon"] is None:
            continue
        features.append({"type": "Feature", "id": f"zone:{zone['node']}:{zone['zone']}",
                         "geometry": {"type": "Point", "coordinates": [zone["lon"], zone["lat"]]},
                         "properties": {"layer": "zone", "name": zone["zone"],
                                        "node": zone["node"], "state": zone["state"],
                                        "since": iso(zone["since_ms"]),
                                        "sensors_silent": silent.get(zone["node"])}})
    if truck is not None:
        features.append({"type": "Feature", "id": f"truck:{node}",
                         "geometry": {"type": "Point", "coordinates": [truck.lon, truck.lat]},
                         "properties": {"layer": "truck", "name": node,
                                        "sampled_at": iso(truck.at_ms)}})
    return collection
