"""The board's data: every incident the console knows, the crew's filter and sort, and
the rows they produce. Pure Python (no widgets), so it is tested and benchmarked alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from fieldkit.fold import Incident
from fieldkit.vocabulary import Status

SEVERITY_NAMES = {1: "minor", 2: "low", 3: "medium", 4: "high", 5: "mass casualty"}
STATUS_LABELS = {
    Status.NEW: "NEW", Status.ACKNOWLEDGED: "ACK", Status.DISPATCHED: "DISPATCH",
    Status.ON_SCENE: "ON SCENE", Status.RESOLVED: "resolved", Status.CLOSED: "closed",
}


class FilterError(ValueError):
    """A filter or sort the board does not know."""


def zone_of(incident: Incident) -> str:
    """The incident's zone (or camera) name, "" when it has none."""
    loc = incident.location or {}
    return str(loc.get("zone") or loc.get("camera") or "")


def agencies_of(incident: Incident) -> list[str]:
    return sorted({a.agency for a in incident.assigned})


def units_text(incident: Incident) -> str:
    return ",".join(a.unit for a in incident.assigned) or "-"


def position_of(incident: Incident) -> tuple[float, float] | None:
    loc = incident.location or {}
    lat, lon = loc.get("lat"), loc.get("lon")
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        return float(lat), float(lon)
    return None


def age_text(ms: int, now_ms: int) -> str:
    """A short relative age: 45s, 12m, 3h, 2d."""
    seconds = max(0, (now_ms - ms) // 1000)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86_400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86_400}d"


def _priority(i: Incident) -> tuple[Any, ...]:
    # As the node lists them: open first, then most severe, then latest change.
    return (not i.status.is_open, -i.severity, -i.updated_at, i.id)


_STATUS_ORDER = {s: n for n, s in enumerate(Status)}
SORTS: dict[str, Callable[[Incident], Any]] = {
    "priority": _priority,
    "severity": lambda i: (-i.severity, -i.updated_at, i.id),
    "status": lambda i: (_STATUS_ORDER[i.status], -i.severity, -i.updated_at, i.id),
    "kind": lambda i: (i.kind, -i.severity, i.id),
    "zone": lambda i: (zone_of(i) or "\uffff", -i.severity, i.id),
    "age": lambda i: (-i.created_at, i.id),
    "updated": lambda i: (-i.updated_at, i.id),
    "title": lambda i: (i.title.casefold(), i.id),
}
"""Sort name -> key; each one is total (ends with the id), so views are deterministic."""


@dataclass(frozen=True)
class Filter:
    """What the crew asked to see. Empty fields match everything."""

    status: str = ""
    """One status, or "open" for every status that is not resolved or closed."""
    min_severity: int = 0
    """Show severity >= this (0: all)."""
    kind: str = ""
    """Incident kind."""
    agency: str = ""
    """An agency with a unit assigned."""
    zone: str = ""
    """Zone (or camera) name."""
    text: str = ""
    """Case-insensitive substring of title, id or description."""

    def __post_init__(self) -> None:
        if self.status and self.status != "open" and self.status not in Status.__members__.values():
            allowed = ", ".join(["open", *(s.value for s in Status)])
            raise FilterError(f"status filter must be one of {allowed}; got {self.status!r}")
        if not 0 <= self.min_severity <= 5:
            raise FilterError(f"min_severity must be 0..5; got {self.min_severity!r}")

    @property
    def active(self) -> bool:
        return self != Filter()

    def describe(self) -> str:
        parts = [f"{name}={value}" for name, value in (
            ("status", self.status), ("kind", self.kind), ("agency", self.agency),
            ("zone", self.zone), ("text", self.text)) if value]
        if self.min_severity:
            parts.insert(1, f"sev>={self.min_severity}")
        return " ".join(parts) or "all"

    def matches(self, i: Incident) -> bool:
        if self.status == "open":
            if not i.status.is_open:
                return False
        elif self.status and i.status.value != self.status:
            return False
        if i.severity < self.min_severity:
            return False
        if self.kind and i.kind != self.kind:
            return False
        if self.agency and all(a.agency != self.agency for a in i.assigned):
            return False
        if self.zone and zone_of(i) != self.zone:
            return False
        if self.text:
            needle = self.text.casefold()
            return needle in i.title.casefold() or needle in i.id \
                or needle in i.description.casefold()
        return True


@dataclass
class BoardModel:
    """Every known incident by id, plus the filter and sort the crew chose."""

    incidents: dict[str, Incident] = field(default_factory=dict)
    filter: Filter = field(default_factory=Filter)
    sort: str = "priority"
    reverse: bool = False
    fresh: set[str] = field(default_factory=set)
    """Ids of incidents that arrived live and nobody has opened yet (highlighted)."""

    def replace_all(self, incidents: Iterable[Incident]) -> None:
        self.incidents = {i.id: i for i in incidents}
        self.fresh &= self.incidents.keys()

    def upsert(self, incident: Incident, *, live: bool = False) -> bool:
        """Store ``incident``; True when it is new to the console."""
        is_new = incident.id not in self.incidents
        self.incidents[incident.id] = incident
        if is_new and live:
            self.fresh.add(incident.id)
        return is_new

    def seen(self, incident_id: str) -> None:
        self.fresh.discard(incident_id)

    def set_filter(self, **changes: Any) -> None:
        self.filter = replace(self.filter, **changes)

    def set_sort(self, name: str, reverse: bool = False) -> None:
        if name not in SORTS:
            raise FilterError(f"sort must be one of {', '.join(SORTS)}; got {name!r}")
        self.sort, self.reverse = name, reverse

    def cycle_sort(self) -> str:
        names = list(SORTS)
        self.set_sort(names[(names.index(self.sort) + 1) % len(names)])
        return self.sort

    def view(self) -> list[Incident]:
        """The incidents to show, filtered and sorted."""
        wanted = self.filter
        rows = [i for i in self.incidents.values() if wanted.matches(i)] if wanted.active \
            else list(self.incidents.values())
        rows.sort(key=SORTS[self.sort], reverse=self.reverse)
        return rows

    def choices(self) -> dict[str, list[str]]:
        """Values present in the data, for the filter form: kind, agency, zone."""
        kinds: set[str] = set()
        agencies: set[str] = set()
        zones: set[str] = set()
        for i in self.incidents.values():
            kinds.add(i.kind)
            agencies.update(a.agency for a in i.assigned)
            zone = zone_of(i)
            if zone:
                zones.add(zone)
        return {"kind": sorted(kinds), "agency": sorted(agencies), "zone": sorted(zones)}

    def counts(self) -> tuple[int, int]:
        """(open, total)."""
        total = len(self.incidents)
        return sum(1 for i in self.incidents.values() if i.status.is_open), total
