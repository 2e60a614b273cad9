"""A map in the terminal: incidents (and drones or trucks when the node reports them)
plotted by latitude/longitude on a character grid, north up.

Each incident is drawn as its severity digit in its severity colour; a cell holding
several shows ``+`` in the colour of the worst. The last line is the legend: the extent
in metres and what is off the map (incidents without a position).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from fieldkit.fold import Incident
from fieldkit.views import DronesView
from tui._model import position_of

_SEVERITY_COLOUR = {5: "bold white on red", 4: "bold red", 3: "bold yellow", 2: "cyan",
                    1: "white"}
_METRES_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True)
class Marker:
    """Something with a position that is not an incident: a drone, a truck."""

    lat: float
    lon: float
    symbol: str
    """One character, e.g. ``D`` for a drone, ``T`` for a truck."""
    label: str = ""


def drone_markers(drones: DronesView | None) -> list[Marker]:
    """A marker per drone with a position; one older than the node's threshold is drawn
    apart ("d", not "D"): it is where the drone was, not where it is."""
    return [] if drones is None else [
        Marker(d.lat, d.lon, "d", "drone, old position") if "position" in d.stale
        else Marker(d.lat, d.lon, "D", "drone") for d in drones.vehicles
        if d.lat is not None and d.lon is not None]


@dataclass
class Plot:
    """The grid computed for one size: cells -> (character, style)."""

    cells: dict[tuple[int, int], tuple[str, str]]
    placed: int
    unplaced: int
    width_m: float
    height_m: float


def plot(incidents: Sequence[Incident], markers: Sequence[Marker], cols: int,
         rows: int) -> Plot:
    """Place incidents and markers on a ``cols`` x ``rows`` grid."""
    points = [(p, i) for i in incidents if (p := position_of(i)) is not None]
    every = [p for p, _ in points] + [(m.lat, m.lon) for m in markers]
    cells: dict[tuple[int, int], tuple[str, str]] = {}
    worst: dict[tuple[int, int], int] = {}
    if not every or cols < 2 or rows < 2:
        return Plot(cells, 0, len(incidents) - len(points), 0.0, 0.0)
    lats = [p[0] for p in every]
    lons = [p[1] for p in every]
    south, north, west, east = min(lats), max(lats), min(lons), max(lons)
    mid = math.radians((south + north) / 2)
    height_m = max((north - south) * _METRES_PER_DEG_LAT, 1.0)
    width_m = max((east - west) * _METRES_PER_DEG_LAT * math.cos(mid), 1.0)
    # Terminal cells are about twice as tall as wide: keep metres per cell isotropic.
    scale = max(width_m / (cols - 1), 2 * height_m / (rows - 1))

    def cell(lat: float, lon: float) -> tuple[int, int]:
        x_m = (lon - west) * _METRES_PER_DEG_LAT * math.cos(mid)
        y_m = (north - lat) * _METRES_PER_DEG_LAT
        return (min(cols - 1, round(x_m / scale)), min(rows - 1, round(y_m / scale / 2)))

    for (lat, lon), incident in points:
        at = cell(lat, lon)
        sev = incident.severity if incident.status.is_open else 0
        if at in worst:
            worst[at] = max(worst[at], sev)
            cells[at] = ("+", _SEVERITY_COLOUR.get(worst[at], "dim"))
        else:
            worst[at] = sev
            char = str(incident.severity) if incident.status.is_open else "."
            cells[at] = (char, _SEVERITY_COLOUR.get(sev, "dim"))
    for m in markers:
        cells[cell(m.lat, m.lon)] = (m.symbol[:1] or "?", "bold magenta")
    return Plot(cells, len(points), len(incidents) - len(points), width_m, height_m)


class IncidentMap(Widget):
    """Draws :func:`plot` of what :meth:`show` was given, at the widget's size."""

    DEFAULT_CSS = """
    IncidentMap { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.incidents: Sequence[Incident] = ()
        self.markers: Sequence[Marker] = ()

    def show(self, incidents: Sequence[Incident], markers: Sequence[Marker] = ()) -> None:
        self.incidents, self.markers = incidents, markers
        self.refresh()

    def show_markers(self, markers: Sequence[Marker]) -> None:
        """Move the drones (and trucks) without recomputing the incidents."""
        if list(markers) != list(self.markers):
            self.markers = markers
            self.refresh()

    def render(self) -> Text:
        cols, rows = self.size.width, max(1, self.size.height - 1)
        result = plot(self.incidents, self.markers, cols, rows)
        text = Text(no_wrap=True, overflow="crop")
        if not result.placed and not self.markers:
            text.append("No incident with a position to show"
                        + (f" ({result.unplaced} without lat/lon)" if result.unplaced else ""),
                        style="dim")
            return text
        for y in range(rows):
            for x in range(cols):
                char, style = result.cells.get((x, y), ("·" if (x + y) % 8 == 0 and x % 8 == 0
                                                        else " ", "dim"))
                text.append(char, style=style)
            text.append("\n")
        legend = (f"N up  {result.width_m:,.0f} m x {result.height_m:,.0f} m  "
                  f"{result.placed} plotted  digit=severity +=several .=closed")
        if result.unplaced:
            legend += f"  {result.unplaced} without position"
        if self.markers:
            legend += "  " + " ".join(sorted({f"{m.symbol}={m.label}" for m in self.markers}))
        text.append(legend[:cols], style="reverse")
        return text
