"""CAP 1.2 (OASIS Common Alerting Protocol) alerts for incidents at or above
``hq.cap_min_severity``.

Stateless and deterministic: an incident's first version (its ``create`` event alone) is
an ``Alert`` whose identifier is ``fieldkit-<incident id>-1`` sent at its creation time;
every later version is an ``Update`` identified by its event count that references that
first alert, and a resolved or closed incident is an ``Update`` with ``responseType``
``AllClear`` and urgency ``Past``. Any node holding the same events writes the same XML.
Callback numbers are never included.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime

from fieldkit.fold import Incident
from fieldkit.vocabulary import IncidentKind

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CATEGORY: dict[str, str] = {
    IncidentKind.CROWD_DENSITY: "Safety", IncidentKind.CROWD_FLOW: "Safety",
    IncidentKind.PERSON_DOWN: "Health", IncidentKind.MEDICAL: "Health",
    IncidentKind.FIRE: "Fire", IncidentKind.FIGHT: "Security",
    IncidentKind.LOST_PERSON: "Rescue", IncidentKind.SUSPICIOUS_OBJECT: "Security",
    IncidentKind.TRAFFIC: "Transport", IncidentKind.DRONE: "Safety",
    IncidentKind.CAMERA_FAULT: "Infra", IncidentKind.NODE_DISK: "Infra",
    IncidentKind.NODE_HEAT: "Infra", IncidentKind.NODE_POWER: "Infra",
    IncidentKind.NODE_CLOCK: "Infra", IncidentKind.SENSOR_FAULT: "Infra",
    IncidentKind.TRANSPORT: "Transport", IncidentKind.OTHER: "Other",
}
SEVERITY = {5: "Extreme", 4: "Severe", 3: "Moderate", 2: "Minor", 1: "Minor"}
DEFAULT_RADIUS_KM = 0.1


def cap_time(ms: int) -> str:
    """CAP's dateTime: seconds, explicit offset (``2026-11-26T08:00:00+00:00``)."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def identifier(incident: Incident, version: int | None = None) -> str:
    return f"fieldkit-{incident.id}-{incident.events if version is None else version}"


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def cap_alert(incident: Incident, sender: str, sender_name: str = "") -> ET.Element:
    """One CAP 1.2 ``<alert>`` for the incident's current state."""
    closed = not incident.status.is_open
    first = incident.events == 1 and not closed
    sent_ms = incident.created_at if first else incident.updated_at
    alert = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(alert, "identifier", identifier(incident, 1 if first else None))
    _sub(alert, "sender", sender)
    _sub(alert, "sent", cap_time(sent_ms))
    _sub(alert, "status", "Actual")
    _sub(alert, "msgType", "Alert" if first else "Update")
    _sub(alert, "source", f"fieldkit node {incident.reported_by}")
    _sub(alert, "scope", "Restricted")
    _sub(alert, "restriction", "Emergency services of the event only")
    if not first:
        _sub(alert, "references",
             f"{sender},{identifier(incident, 1)},{cap_time(incident.created_at)}")
    _sub(alert, "incidents", incident.id)
    info = _sub(alert, "info")
    _sub(info, "language", "en-US")
    _sub(info, "category", CATEGORY.get(incident.kind, "Other"))
    _sub(info, "event", incident.kind.replace("_", " "))
    if closed:
        _sub(info, "responseType", "AllClear")
    _sub(info, "urgency", "Past" if closed else
         "Immediate" if incident.severity >= 4 else "Expected")
    _sub(info, "severity", SEVERITY.get(incident.severity, "Unknown"))
    _sub(info, "certainty", "Observed")
    if sender_name:
        _sub(info, "senderName", sender_name)
    _sub(info, "headline", incident.title[:160])
    if incident.description:
        _sub(info, "description", incident.description)
    for name, value in (("fieldkit:status", incident.status.value),
                        ("fieldkit:severity", str(incident.severity)),
                        ("fieldkit:source", incident.source),
                        ("fieldkit:assigned", " ".join(f"{a.agency}:{a.unit}"
                                                       for a in incident.assigned) or "none")):
        param = _sub(info, "parameter")
        _sub(param, "valueName", name)
        _sub(param, "value", value)
    loc = incident.location or {}
    area = _sub(info, "area")
    desc = [v for v in (loc.get("zone") and f"zone {loc['zone']}",
                        loc.get("camera") and f"camera {loc['camera']}") if v]
    if loc.get("lat") is not None:
        desc.append(f"{loc['lat']:.6f},{loc['lon']:.6f}")
    _sub(area, "areaDesc", ", ".join(desc) or "unknown")
    if loc.get("lat") is not None:
        radius = max(float(loc.get("accuracy_m") or 0) / 1000, DEFAULT_RADIUS_KM)
        _sub(area, "circle", f"{loc['lat']:.6f},{loc['lon']:.6f} {radius:.3f}")
    return alert


def cap_xml(incident: Incident, sender: str, sender_name: str = "") -> bytes:
    """The alert as a UTF-8 XML document."""
    ET.register_namespace("", CAP_NS)
    alert = cap_alert(incident, sender, sender_name)
    ET.indent(alert)
    return ET.tostring(alert, encoding="utf-8", xml_declaration=True)


def alertable(incidents: Sequence[Incident], min_severity: int) -> list[Incident]:
    """The incidents that get a CAP alert."""
    return [i for i in incidents if i.severity >= min_severity]
