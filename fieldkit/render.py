"""Plain-text rendering of incidents for the CLI (the TUI has its own widgets)."""

from __future__ import annotations

from collections.abc import Sequence

from fieldkit.export import iso
from fieldkit.fold import Incident
from fieldkit.vocabulary import CONTROLS_BUT_TAB_NEWLINE


def terminal_safe(text: str) -> str:
    """``text`` with control characters shown as ``\\xNN``: what a terminal shows must
    not drive it (an ANSI escape in a title written before intake refused them)."""
    return CONTROLS_BUT_TAB_NEWLINE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def short_id(incident_id: str) -> str:
    """The tail of a UUIDv7 is random; the head is time and shared by neighbours."""
    return incident_id[-8:] if len(incident_id) > 8 else incident_id


def incident_table(incidents: Sequence[Incident]) -> str:
    if not incidents:
        return "no incidents"
    rows = [("ID", "SEV", "STATUS", "KIND", "WHERE", "UPDATED", "TITLE")]
    for i in incidents:
        rows.append((short_id(i.id), str(i.severity), i.status.value, i.kind, where(i),
                     iso(i.updated_at), i.title + (" [CONFLICT]" if i.conflicts else "")))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    return terminal_safe("\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows))


def where(incident: Incident) -> str:
    loc = incident.location or {}
    parts = []
    if loc.get("lat") is not None:
        acc = f" ±{loc['accuracy_m']:g}m" if loc.get("accuracy_m") is not None else ""
        when = f" measured {iso(loc['at_ms'])}" if loc.get("at_ms") is not None else ""
        parts.append(f"{loc['lat']:.5f},{loc['lon']:.5f}{acc}{when}")
    parts += [f"{k} {loc[k]}" for k in ("zone", "camera") if loc.get(k)]
    return ", ".join(parts) or "-"


def incident_detail(i: Incident) -> str:
    lines = [
        f"{i.title}",
        f"  id          {i.id}",
        f"  kind        {i.kind}   severity {i.severity}   status {i.status.value}",
        f"  where       {where(i)}",
        f"  source      {i.source}, reported by {i.reported_by} at {iso(i.created_at)}",
    ]
    if i.description:
        lines.append(f"  description {i.description}")
    for c in i.conflicts:
        values = ", ".join(f"{cand.value!r} by {cand.by} at {iso(cand.at)}"
                           for cand in c.candidates)
        lines.append(f"  CONFLICT    {c.field}: {values}; showing {c.winner!r} "
                     f"(set the field again to resolve)")
    lines.append("  units       " + (", ".join(f"{a.agency}:{a.unit}" for a in i.assigned)
                                     or "none assigned"))
    if i.links:
        lines.append("  linked      " + ", ".join(f"{ln.target} {ln.ref}" for ln in i.links))
    for a in i.attachments:
        gone = "" if a.expired_at is None else f", image expired on {iso(a.expired_at)}"
        lines.append(f"  attachment  {a.name} ({a.mime}, {a.size} bytes) sha256 {a.blob}{gone}")
    timeline = [(t.at, t.event, f"{t.status.value:<12} by {t.by}"
                  + (f" ({t.reason})" if t.reason else "")) for t in i.transitions]
    timeline += [(n.at, n.event, f"{'note':<12} by {n.by}: {n.text}") for n in i.notes]
    timeline += [(a.at, a.event, f"{'assigned':<12} by {a.by}: {a.agency}:{a.unit}")
                 for a in i.assigned]
    lines.append("  timeline")
    lines += [f"    {iso(at)}  {text}" for at, _, text in sorted(timeline)]
    return terminal_safe("\n".join(lines))
