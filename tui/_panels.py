"""Panels for cameras, drones and sync.

Those parts of the node are built alongside the console, so a panel takes whatever the
node reports: a dedicated endpoint when the node has one (``/api/cameras``,
``/api/drones``, ``/api/sync``), else a section of ``/api/health``. The node's shape may
still move, so rows are plain dicts: known columns first, any other scalar field after,
and numeric series drawn as sparklines. A node without the part says so honestly: "not
available on this node" is not the same as "no cameras configured".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

_SPARK = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class PanelSpec:
    """What a panel shows and where it looks."""

    name: str
    """Panel title, e.g. "Cameras"."""
    endpoints: tuple[str, ...]
    """API paths tried in order; a 404 means "this node has no such route"."""
    health_keys: tuple[str, ...]
    """Sections of /api/health that may carry the same list."""
    columns: tuple[str, ...]
    """Preferred columns, in order (others follow)."""
    empty: str
    """Shown when the node reports the part with nothing in it."""


CAMERAS = PanelSpec(
    "Cameras", ("/api/cameras",), ("cameras",),
    ("name", "health", "status", "fps", "count", "density", "zones", "last_frame"),
    "No cameras configured on this node.")
DRONES = PanelSpec(
    "Drones", ("/api/drones",), ("drones", "vehicles"),
    ("name", "mode", "armed", "lat", "lon", "alt_rel_m", "alt_m", "battery_pct", "battery",
     "link", "lost", "feed", "video"),
    "No drones connected to this node.")
SYNC = PanelSpec(
    "Sync", ("/api/sync/status", "/api/sync"), ("sync", "peers"),
    ("peer", "name", "trust", "last_contact_s_ago", "pending_out", "pending_in", "lag_s",
     "failures", "last_error"),
    "No sync peers configured on this node.")
PANELS = (CAMERAS, DRONES, SYNC)

NOT_AVAILABLE = None
"""The node has neither an endpoint nor a health section for the part."""


def rows_from(data: Any, keys: Sequence[str]) -> list[dict[str, Any]] | None:
    """Normalise what a node sent into rows: a list of dicts, ``{key: [...]}`` or
    ``{name: {...}}``. None when ``data`` holds nothing recognisable."""
    if isinstance(data, dict):
        for key in (*keys, "items", "peers"):
            if key in data:
                return rows_from(data[key], ())
        if data and all(isinstance(v, dict) for v in data.values()):
            return [{"name": str(k), **v} for k, v in data.items()]
        return None
    if isinstance(data, list):
        return [item if isinstance(item, dict) else {"name": str(item)} for item in data]
    return None


def from_health(health: dict[str, Any], spec: PanelSpec) -> list[dict[str, Any]] | None:
    for key in spec.health_keys:
        if key in health:
            return rows_from(health[key], spec.health_keys) or []
    return NOT_AVAILABLE


def sparkline(values: Sequence[float], width: int = 16) -> str:
    series = [float(v) for v in values][-width:]
    if not series:
        return ""
    low, high = min(series), max(series)
    span = (high - low) or 1.0
    return "".join(_SPARK[min(7, int((v - low) / span * 7.999))] for v in series)


def _cell(value: Any) -> Text:
    if isinstance(value, bool):
        return Text("yes" if value else "no", style="green" if value else "red")
    if isinstance(value, list) and value and all(isinstance(v, int | float) for v in value):
        return Text(f"{sparkline(value)} {value[-1]:g}", style="cyan")
    if isinstance(value, float):
        return Text(f"{value:.6g}")
    if isinstance(value, dict):
        return Text(" ".join(f"{k}:{_cell(v).plain}" for k, v in value.items()))
    text = str(value)
    style = ""
    if text.lower() in ("ok", "live", "up", "connected", "online"):
        style = "bold green"
    elif text.lower() in ("down", "error", "lost", "offline", "stale", "failed"):
        style = "bold red"
    return Text(text, style=style)


MAX_COLUMNS = 10
"""Rows with many fields (a drone's whole state) show the preferred ones only."""


def table_of(rows: list[dict[str, Any]], preferred: Sequence[str]) -> Table:
    present = [c for c in preferred if any(c in r for r in rows)]
    others = sorted({k for r in rows for k, v in r.items()
                     if not k.startswith("_") and not isinstance(v, dict)} - set(present))
    present = (present + others)[:max(MAX_COLUMNS, len(present))]
    table = Table(expand=True, show_edge=False, pad_edge=False, header_style="bold")
    for column in present:
        table.add_column(column.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row[c]) if c in row else Text("-", style="dim")
                        for c in present))
    return table


class InfoPanel(Static):
    """One part of the node (cameras, drones, sync) as a table, or an honest state."""

    def __init__(self, spec: PanelSpec, *, id: str | None = None) -> None:
        super().__init__("[dim]waiting for the node...[/]", id=id, classes="info-panel")
        self.spec = spec
        self.rows: list[dict[str, Any]] | None = None
        self.known = False
        self.extra: RenderableType | None = None

    def show(self, rows: list[dict[str, Any]] | None, extra: RenderableType | None = None
             ) -> None:
        """``rows`` None: the node does not provide this part."""
        self.rows, self.known, self.extra = rows, True, extra
        self.update(self.body())

    def body(self) -> RenderableType:
        parts: list[RenderableType] = []
        if self.rows is None:
            parts.append(Text(f"{self.spec.name}: not available on this node "
                              "(this node's software does not report it yet).", style="yellow"))
        elif not self.rows:
            parts.append(Text(self.spec.empty, style="bold"))
        else:
            parts.append(table_of(self.rows, self.spec.columns))
        if isinstance(self.extra, Group):
            parts.extend(self.extra.renderables)
        elif self.extra is not None:
            parts.append(self.extra)
        return Group(*parts)


def origins_table(origins: dict[str, int], own: str) -> Table:
    """The log's version vector (events held per origin node): what sync has brought."""
    table = Table(title="events held per origin node", expand=False, show_edge=False,
                  header_style="bold", title_justify="left")
    table.add_column("origin")
    table.add_column("highest seq", justify="right")
    for origin, seq in sorted(origins.items()):
        table.add_row(origin + (" (this node)" if origin == own else ""), f"{seq:,}")
    return table


def fleet_table(fleet: dict[str, Any]) -> Table:
    """The fleet picture (``GET /api/hq/fleet``): per node, last sync, open incidents,
    cameras and drones reported (how many down)."""
    table = Table(title="fleet", expand=False, show_edge=False, header_style="bold",
                  title_justify="left")
    for column in ("node", "last sync", "last event", "open", "cameras", "drones"):
        table.add_column(column, justify="left" if column == "node" else "right")

    def age(value: Any) -> str:
        return "-" if not isinstance(value, int | float) else f"{value:.0f} s ago"

    def kit(items: Any) -> Text:
        items = items if isinstance(items, dict) else {}
        down = sum(1 for v in items.values() if isinstance(v, dict) and v.get("down"))
        return Text(f"{len(items)}" + (f" ({down} down)" if down else ""),
                    style="bold red" if down else "")

    for node in fleet.get("nodes") or []:
        if not isinstance(node, dict):
            continue
        table.add_row(str(node.get("node", "?")) + (" (this node)" if node.get("self") else ""),
                      age(node.get("last_sync_s_ago")), age(node.get("last_event_s_ago")),
                      str(node.get("open_incidents", "-")), kit(node.get("cameras")),
                      kit(node.get("drones")))
    return table
