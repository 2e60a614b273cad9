"""The Zones panel: zone states and sensor health from this node's city sensors
(``GET /api/sensors``), then the zones other nodes' sensors reported, as the fleet
picture reads them from their zone incidents (readings never leave the node that took
them, so a peer's zone is only as fresh as its last incident).

As in every panel, figures carry their unit and age, "-" stands for what the node does
not know, and data no fresh source backs is marked stale rather than shown as current.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from fieldkit.render import terminal_safe
from fieldkit.views import FleetView, SensorsView, SensorView, SensorZoneView
from tui._panels import Fetched, ago, as_of, seconds_text

# What a crew must see at 80 columns comes first: state, density and how old it is.
ZONE_COLUMNS = ("zone", "state", "since", "density", "data", "flow in/out", "room", "by")
SENSOR_COLUMNS = ("sensor", "zone", "heard", "every", "health", "value", "kind")
FLEET_COLUMNS = ("node", "zone", "state", "since", "node heard", "incident")
QUIET_S = 300.0
"""A node not heard from for this long: its zones may have changed since (marked)."""

_STATE_STYLE = {"free": "green", "dense": "bold yellow", "congested": "bold red",
                "blocked": "bold white on red", "degraded": "yellow", "unknown": "yellow"}

Cells = tuple[RenderableType, ...]


def state_cell(state: str) -> Text:
    return Text(state, style=_STATE_STYLE.get(state, ""))


def _band(band: tuple[float, float] | None, digits: int) -> str:
    return "" if band is None else f" ({band[0]:.{digits}f}-{band[1]:.{digits}f})"


def density_cell(zone: SensorZoneView) -> str:
    """The measure that judges the zone, with its band: ``1.52 /m² (1.30-1.74)``."""
    if zone.measure == "road_occupancy" and zone.value is not None:
        return f"road occupancy {zone.value:.0f} %"
    if zone.density is None:
        return "-"
    return f"{zone.density:.2f} /m²{_band(zone.density_band, 2)}"


def source_cell(zone: SensorZoneView) -> str:
    if zone.measure == "road_occupancy":
        return "road loops"
    if zone.density_source is None:
        return "-"
    method = f": {zone.density_method}" if zone.density_method else ""
    return terminal_safe(zone.density_source + method)


def flow_cell(zone: SensorZoneView) -> str:
    if zone.inflow_p_s is None or zone.outflow_p_s is None:
        return "-"
    per_metre = "" if zone.outflow_pm_s is None else f" ({zone.outflow_pm_s:.2f} p/m/s out)"
    return f"{zone.inflow_p_s:.1f}/{zone.outflow_p_s:.1f} p/s{per_metre}"


def data_cell(zone: SensorZoneView) -> Text:
    """How old its newest datum is; stale when no source is fresh enough to judge it."""
    if zone.age_s is None:
        return Text("nothing heard", style="bold yellow")
    if zone.measure is None:
        return Text(f"STALE {ago(zone.age_s)}", style="bold red")
    return Text(ago(zone.age_s))


def zone_cells(zone: SensorZoneView) -> Cells:
    room = "-" if zone.spare_capacity is None else f"{zone.spare_capacity:.0f} people"
    return (Text(terminal_safe(zone.zone), style="bold"), state_cell(zone.state),
            ago(zone.state_age_s), density_cell(zone), data_cell(zone), flow_cell(zone),
            room, source_cell(zone))


def health_cell(sensor: SensorView) -> Text:
    """ok; its fault (silent, never heard) in red; refused payloads in yellow."""
    if sensor.fault is not None:
        text = Text(terminal_safe(sensor.fault), style="bold red")
    elif sensor.healthy:
        text = Text("ok", style="green")
    else:  # within its first intervals: not yet heard, not yet faulty
        text = Text("waiting", style="yellow")
    if sensor.rejected:
        why = f": {terminal_safe(sensor.last_error[:40])}" if sensor.last_error else ""
        text.append(f"  {sensor.rejected} refused{why}", style="yellow")
    if sensor.out_of_order:
        text.append(f"  {sensor.out_of_order} late", style="dim")
    return text


def sensor_cells(sensor: SensorView) -> Cells:
    value = "-" if sensor.value is None else f"{sensor.value:g}"
    return (Text(terminal_safe(sensor.id), style="bold"), terminal_safe(sensor.zone or "-"),
            ago(sensor.age_s), seconds_text(sensor.expected_interval_s), health_cell(sensor),
            value, sensor.kind)


def fleet_rows(fleet: FleetView | None, skip_self: bool) -> list[tuple[str, Cells]]:
    """Zones of the fleet's nodes, from their zone incidents (the node's own are left
    out when its own sensors are shown above, in more detail)."""
    rows: list[tuple[str, Cells]] = []
    for node in [] if fleet is None else fleet.nodes:
        if skip_self and node.is_self:
            continue
        heard = node.last_event_s_ago
        quiet = heard is None or heard > QUIET_S
        for name, zone in sorted(node.zones.items()):
            rows.append((f"{node.node}\x1f{name}", (
                Text(node.node, style="bold"), terminal_safe(name), state_cell(zone.state),
                ago(zone.since_s_ago),
                Text(f"{ago(heard)}{' STALE?' if quiet else ''}",
                     style="bold yellow" if quiet else ""),
                zone.incident[-12:])))
    return rows


def silent_lines(fleet: FleetView | None, skip_self: bool) -> list[Text]:
    return [] if fleet is None else [
        Text.assemble((f"{node.node}: ", "bold"),
                      (terminal_safe(node.sensors_silent), "bold red"))
        for node in fleet.nodes if node.sensors_silent and not (skip_self and node.is_self)]


def sensors_head(sensors: SensorsView) -> Text:
    """The broker, what is stored, and transit disruptions, on one line each."""
    mqtt = sensors.mqtt
    style = "green" if mqtt.state == "connected" else "bold red" if mqtt.state in (
        "backoff", "stopped") else "yellow"
    line = Text.assemble("City sensors  broker ", (mqtt.state, style))
    if mqtt.broker:
        line.append(f" {mqtt.broker}{' TLS' if mqtt.tls else ''}")
    if mqtt.last_error:
        line.append(f" ({terminal_safe(mqtt.last_error[:80])})", style="red")
    line.append(f"  {sensors.stored:,} stored, {sensors.duplicates:,} duplicates")
    transit = sensors.transit
    if transit is not None:
        line.append("\ntransit: " + ("schedule loaded" if transit.schedule else "NO SCHEDULE"))
        if transit.disrupted:
            line.append(f"  disrupted: {', '.join(transit.disrupted)}", style="bold red")
        for feed, error in sorted(transit.errors.items()):
            line.append(f"\n  {feed}: {terminal_safe(error[:100])}", style="red")
    return line


def fill(table: DataTable[RenderableType], rows: list[tuple[str, Cells]]) -> None:
    """Show ``rows`` (key, cells): updated in place while the keys stay the same (the
    cursor stays put), rebuilt when rows come or go."""
    if [key for key, _ in rows] != [row.value for row in table.rows]:
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        return
    for key, cells in rows:
        for column, cell in zip(table.columns, cells, strict=True):
            table.update_cell(key, column, cell, update_width=True)


class ZonesPanel(VerticalScroll):
    """This node's zones and sensors (each a DataTable), then the fleet's zones."""

    DEFAULT_CSS = """
    ZonesPanel DataTable { height: auto; max-height: 20; margin-bottom: 1; }
    ZonesPanel Static { height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="info-panel")
        self.fetched: Fetched | None = None
        self._head = Static(as_of(None, 0), id="zones-head")
        self._zones: DataTable[RenderableType] = DataTable(id="zones-table")
        self._sensors: DataTable[RenderableType] = DataTable(id="sensors-table")
        self._fleet_head = Static(id="fleet-zones-head")
        self._fleet: DataTable[RenderableType] = DataTable(id="fleet-zones-table")
        for table, columns in ((self._zones, ZONE_COLUMNS), (self._sensors, SENSOR_COLUMNS),
                               (self._fleet, FLEET_COLUMNS)):
            table.cursor_type = "row"
            for column in columns:
                table.add_column(column, key=column)
            table.display = False
        self._fleet_head.display = False

    def compose(self) -> ComposeResult:
        yield self._head
        yield self._zones
        yield self._sensors
        yield self._fleet_head
        yield self._fleet

    def show(self, fetched: Fetched, now_ms: int) -> None:
        self.fetched = fetched
        self.redraw(now_ms)

    def redraw(self, now_ms: int) -> None:
        fetched = self.fetched
        if fetched is None:
            return
        sensors = fetched.sensors if fetched.sensors and fetched.sensors.enabled else None
        head: list[RenderableType] = []
        if sensors is None:
            head.append(Text("No city sensors on this node.", style="bold"))
        elif not sensors.zones and not sensors.sensors:
            head.append(Text("No zones or sensors declared in [sensors].", style="bold"))
        else:
            head.append(sensors_head(sensors))
        head.append(as_of(fetched, now_ms))
        self._head.update(Group(*head))
        zones = [] if sensors is None else sensors.zones
        fill(self._zones, [(z.zone, zone_cells(z)) for z in zones])
        self._zones.display = bool(zones)
        declared = [] if sensors is None else sensors.sensors
        fill(self._sensors, [(s.id, sensor_cells(s)) for s in declared])
        self._sensors.display = bool(declared)
        own = sensors is not None
        rows, silent = fleet_rows(fetched.fleet, own), silent_lines(fetched.fleet, own)
        fill(self._fleet, rows)
        self._fleet.display = bool(rows)
        self._fleet_head.display = bool(rows or silent)
        others = "other nodes'" if own else "the fleet's"
        self._fleet_head.update(Group(
            Text(f"Zones {others} sensors reported (from their zone incidents)",
                 style="bold"), *silent))
