"""The incidents board: a DataTable that shows 10,000 incidents without stalling.

Textual's ``DataTable`` measures every cell of every new row on the next idle, and
``add_row`` re-validates the cursor once per row: about 1.3 s for 10,000 rows on a truck
laptop, far past a keystroke budget. Every column here has a fixed width, no row label
and a height of one line, so the measuring is pointless: :class:`BoardTable` loads rows
in bulk and skips it (keeping the virtual size right), and the table itself draws only
the rows on screen. Drawing a screenful of cells through rich's general layout path
(Styled(Padding(cell))) was then most of a keystroke, so body cells are drawn straight
from their Text; a test checks every cell against DataTable's own drawing. These use
DataTable internals: textual is pinned (==8.2.8), revisit them when it moves.
Column widths follow the terminal's width.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets._data_table import ColumnKey, Row, RowKey  # textual is pinned (==8.2.8)

from fieldkit.fold import Incident
from fieldkit.render import terminal_safe
from fieldkit.vocabulary import Status
from tui._model import STATUS_LABELS, age_text, units_text, zone_of

_SEVERITY_STYLE = {5: "bold white on red", 4: "bold red", 3: "bold yellow", 2: "cyan", 1: "dim"}
_STATUS_STYLE = {
    Status.NEW: "bold red", Status.ACKNOWLEDGED: "bold yellow", Status.DISPATCHED: "bold cyan",
    Status.ON_SCENE: "bold green", Status.RESOLVED: "dim", Status.CLOSED: "dim",
}


SHORT_KINDS = {
    "crowd_density": "density", "crowd_flow": "flow", "person_down": "pers.down",
    "lost_person": "lost pers", "suspicious_object": "susp.obj", "camera_fault": "cam.fault",
}
"""Kinds cut to 9 cells for an 80-column board."""


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    label: str
    width: int
    sort: str
    """The board sort that clicking this header selects."""


def columns_for(width: int) -> list[ColumnSpec]:
    """Columns that fit ``width`` cells; the title takes what is left (at least 12)."""
    wide = width >= 120
    cols = [
        ColumnSpec("sev", "SEV", 3, "severity"),
        ColumnSpec("status", "STATUS", 8, "status"),
        ColumnSpec("kind", "KIND", 17 if wide else 9, "kind"),
        ColumnSpec("units", "UNITS", 14 if wide else 7, "priority"),
        ColumnSpec("zone", "ZONE", 12 if wide else 7, "zone"),
        ColumnSpec("age", "AGE", 3, "age"),
    ]
    if wide:
        cols.insert(0, ColumnSpec("id", "ID", 8, "priority"))
        cols.insert(-1, ColumnSpec("upd", "UPD", 3, "updated"))
    used = sum(c.width + 2 for c in cols) + 2 + 2  # cell padding, title padding, scrollbar
    cols.append(ColumnSpec("title", "TITLE", max(12, width - used), "title"))
    return cols


class AgeCell:
    """A relative age ("12m") drawn when the cell is drawn, so that a row's cells stay
    valid as the clock moves and only rows on screen pay for the clock."""

    __slots__ = ("clock", "ms", "style")

    def __init__(self, ms: int, clock: Callable[[], int], style: str = "") -> None:
        self.ms, self.clock, self.style = ms, clock, style

    def __rich__(self) -> Text:
        return Text(age_text(self.ms, self.clock()), style=self.style)


Cells = tuple[Text | AgeCell, ...]


@dataclass(frozen=True)
class RenderedRow:
    """What the table holds for one incident: its key, row and cells by column."""

    key: RowKey
    row: Row
    cells: dict[ColumnKey, Text | AgeCell]


class RowRenderer:
    """Incident -> styled cells, cached while the incident, its freshness and the
    columns hold (ages are drawn from the clock at paint time: :class:`AgeCell`)."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        self.now_ms = now_ms
        self._cache: dict[str, tuple[tuple[object, ...], RenderedRow]] = {}
        self.columns: list[ColumnSpec] = []

    def row(self, i: Incident, fresh: bool) -> RenderedRow:
        stamp = (i.updated_at, i.events, fresh, len(self.columns))
        hit = self._cache.get(i.id)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        key = RowKey(i.id)
        rendered = RenderedRow(key, Row(key, 1, None, False), dict(zip(
            (ColumnKey(c.key) for c in self.columns), self.cells(i, fresh), strict=True)))
        self._cache[i.id] = (stamp, rendered)
        return rendered

    def cells(self, i: Incident, fresh: bool) -> Cells:
        row_style = "reverse bold" if fresh else ""
        wide = len(self.columns) > 7
        title = Text("NEW! " if fresh else "", style="bold")
        if i.conflicts:
            title.append("CONFLICT ", style="bold red")
        title.append(terminal_safe(i.title), style="dim" if not i.status.is_open else "")
        values: dict[str, Text | AgeCell] = {
            "id": Text(i.id[-8:], style="dim"),
            "sev": Text(str(i.severity), style=_SEVERITY_STYLE.get(i.severity, "")),
            "status": Text(STATUS_LABELS[i.status], style=_STATUS_STYLE[i.status]),
            "kind": Text(i.kind if wide else SHORT_KINDS.get(i.kind, i.kind)),
            "units": Text(units_text(i)),
            "zone": Text(zone_of(i) or "-"),
            "upd": AgeCell(i.updated_at, self.now_ms, f"dim {row_style}".strip()),
            "age": AgeCell(i.created_at, self.now_ms, row_style),
            "title": title,
        }
        cells = tuple(values[c.key] for c in self.columns)
        if row_style:
            for cell in cells:
                if isinstance(cell, Text):
                    cell.stylize(row_style)
        return cells


class BoardTable(DataTable[Text | AgeCell]):
    """The board's table. Use :meth:`show`; the row keys are incident ids."""

    def __init__(self, renderer: RowRenderer, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.renderer = renderer
        self._width_for = 0

    def set_columns(self, width: int) -> bool:
        """(Re)build the columns for ``width`` cells; False when they already fit."""
        specs = columns_for(width)
        if specs == self.renderer.columns and self.columns:
            return False
        self.renderer.columns = specs
        self.clear(columns=True)
        for spec in specs:
            self.add_column(spec.label, width=spec.width, key=spec.key)
        self._width_for = width
        return True

    def sort_for_column(self, key: str) -> str:
        return next((c.sort for c in self.renderer.columns if c.key == key), "priority")

    def show(self, incidents: list[Incident], fresh: set[str]) -> None:
        """Replace every row with ``incidents`` in order, keeping the cursor on the same
        incident when it is still shown."""
        current = self.current_id()
        row_of = self.renderer.row
        self.clear()
        shown = [row_of(i, i.id in fresh) for i in incidents]
        # Bulk load: what add_row does per row, without per-row cursor checks.
        self._row_locations = TwoWayDict({r.key: n for n, r in enumerate(shown)})
        self._data = {r.key: r.cells for r in shown}
        self.rows = {r.key: r.row for r in shown}
        locations = self._row_locations
        self._update_count += 1  # invalidates the row order and line offset caches
        # The virtual size now, not on idle: one paint per change instead of two.
        self._new_rows.clear()
        self._require_update_dimensions = False
        super()._update_dimensions(())
        if current is not None and locations.get(RowKey(current)) is not None:
            self.cursor_coordinate = Coordinate(locations.get(RowKey(current)) or 0, 0)

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> list[list[Segment]]:
        """A body cell drawn straight from its Text: what DataTable does for a one-line
        cell (pad, crop, apply the cursor and row styles) without the general rich
        layout path, which costs most of a keystroke on a full screen."""
        if row_index < 0 or column_index < 0 or self.fixed_columns or self.fixed_rows:
            return super()._render_cell(row_index, column_index, base_style, width,
                                        cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width,
                                        cursor, hover)
        cache_key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor,
                     self._update_count, self._pseudo_class_state)
        cached = self._cell_render_cache.get(cache_key)
        if cached is not None:
            return cached
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        cell = self._data[row_key][column_key]
        text = cell.__rich__() if isinstance(cell, AgeCell) else cell.copy()
        pad = " " * self.cell_padding
        text.end = ""
        inner = max(0, width - 2 * self.cell_padding)
        text.truncate(inner, overflow="crop")
        console = self.app.console
        body = list(text.render(console))
        if not text.spans and text.style:  # rich applies a span-less Text's style itself
            body = list(Segment.apply_style(body, console.get_style(text.style)))
        segments = [Segment(pad), *body, Segment(" " * (inner - text.cell_len) + pad)]
        style = base_style + Style.from_meta({"row": row_index, "column": column_index})
        lines = [list(Segment.apply_style(segments, style + component_style, post_style))]
        self._cell_render_cache[cache_key] = lines
        return lines

    def _update_dimensions(self, new_rows: object) -> None:
        # Fixed-width columns, no labels, one-line rows: nothing to measure per row.
        super()._update_dimensions(())

    def current_id(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None
