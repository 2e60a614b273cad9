"""The fleet picture, as HQ (or any node) sees it from the logs it holds: per node, the
last sync contact, the last event heard, its open incidents, and the cameras and drones
it has reported (linked to incidents or placed incidents by), with those in an open fault
or drone alert marked down, and the zone states and sensor health its city sensors
reported (through the sensors part's incidents: readings themselves never leave a node).

What runs on this node itself (cameras, drones) is added live by the service from the
running parts; other trucks' equipment is known only through their synced events.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fieldkit.fold import Incident
from fieldkit.hlc import to_wall_ms
from fieldkit.log import IncidentLog
from fieldkit.vocabulary import IncidentKind, Source

#: The states a sensors zone incident names as the last word of its title, while open
#: (sensors.incidents); a resolved one means the zone is free again.
ZONE_STATES = ("dense", "congested", "blocked")
_ZONE_KINDS = (IncidentKind.CROWD_DENSITY, IncidentKind.TRAFFIC)


def _age_s(now_ms: int, ms: int | None) -> float | None:
    return None if ms is None else round(max(0, now_ms - ms) / 1000, 1)


def fleet_picture(log: IncidentLog, node: str, now_ms: int) -> dict[str, Any]:
    """Per node: sync, open incidents, cameras, drones (runs on the store thread)."""
    conn = log.store.conn
    nodes: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        return nodes.setdefault(name, {
            "node": name, "self": name == node, "last_sync_s_ago": None,
            "last_sync_error": None, "last_event_s_ago": None, "events": 0,
            "open_incidents": 0, "top_incidents": [], "cameras": {}, "drones": {},
            "zones": {}, "sensors_silent": None})

    entry(node)
    for origin, count, hlc in conn.execute(
            "SELECT origin, count(*), max(hlc) FROM events GROUP BY origin"):
        e = entry(origin)
        e["events"] = int(count)
        e["last_event_s_ago"] = _age_s(now_ms, to_wall_ms(int(hlc)))
    for name, contact, error in conn.execute(
            "SELECT name, last_contact, last_error FROM sync_peers"):
        e = entry(name)
        e["last_sync_s_ago"] = _age_s(now_ms, contact)
        e["last_sync_error"] = error
    for origin, target, ref, hlc in conn.execute(
            "SELECT origin, json_extract(payload, '$.target'), json_extract(payload, '$.ref'),"
            " max(hlc) FROM events WHERE kind = 'link' GROUP BY 1, 2, 3"):
        bucket = "cameras" if target == "camera" else "drones"
        entry(origin)[bucket][str(ref)] = {"last_seen_s_ago": _age_s(now_ms, to_wall_ms(hlc)),
                                           "down": False, "alert": None}
    opened = log.incidents(open_only=True)
    for incident in opened:
        e = entry(incident.reported_by)
        e["open_incidents"] += 1
        if len(e["top_incidents"]) < 5:
            e["top_incidents"].append({"id": incident.id, "title": incident.title,
                                       "kind": incident.kind, "severity": incident.severity,
                                       "status": incident.status.value})
        loc = incident.location or {}
        if incident.kind == IncidentKind.CAMERA_FAULT and loc.get("camera"):
            cam = e["cameras"].setdefault(loc["camera"], {"last_seen_s_ago": None})
            cam.update(down=True, alert=incident.title)
        if incident.kind == IncidentKind.DRONE:
            for link in incident.links:
                if link.target == "drone":
                    drone = e["drones"].setdefault(link.ref, {"last_seen_s_ago": None})
                    drone.update(down=True, alert=incident.title)
    for origin, silent in silent_sensors(opened).items():
        entry(origin)["sensors_silent"] = silent
    zone_incidents = [i for kind in _ZONE_KINDS for i in log.incidents(kind=kind)]
    for zone in zone_states(zone_incidents):
        entry(zone["node"])["zones"][zone["zone"]] = {
            "state": zone["state"], "since_s_ago": _age_s(now_ms, zone["since_ms"]),
            "incident": zone["incident"]}
    ordered = sorted(nodes.values(), key=lambda n: (not n["self"], n["node"]))
    return {"node": node, "nodes": ordered}


def silent_sensors(incidents: Iterable[Incident]) -> dict[str, str]:
    """Per node, the description of its open silent-sensor incident (which names each
    silent sensor and for how long)."""
    return {i.reported_by: i.description for i in incidents
            if i.kind == IncidentKind.SENSOR_FAULT and i.source == Source.SENSOR
            and i.status.is_open}


def zone_states(incidents: Iterable[Incident]) -> list[dict[str, Any]]:
    """Per (node, zone) its city sensors reported degraded, what the latest incident
    says: dense, congested or blocked while open, free once resolved."""
    latest: dict[tuple[str, str], Incident] = {}
    for incident in incidents:
        zone = (incident.location or {}).get("zone")
        if incident.source != Source.SENSOR or incident.kind not in _ZONE_KINDS or not zone:
            continue
        key = (incident.reported_by, str(zone))
        if key not in latest or incident.updated_at > latest[key].updated_at:
            latest[key] = incident
    out = []
    for (node, zone), incident in sorted(latest.items()):
        word = incident.title.rsplit(" ", 1)[-1]
        state = ("free" if not incident.status.is_open
                 else word if word in ZONE_STATES else "degraded")
        loc = incident.location or {}
        out.append({"node": node, "zone": zone, "state": state,
                    "since_ms": incident.updated_at, "incident": incident.id,
                    "lat": loc.get("lat"), "lon": loc.get("lon")})
    return out

