"""Panels for cameras, drones and sync, drawn from the node's typed views
(:mod:`fieldkit.views`).

Every figure carries its unit and its age ("12 s ago"); a value the node does not know
is drawn as "-", never as ``None``. Each panel also says when its data was fetched, so
a console that lost its node shows how stale the picture is. A node without the part
says so: "not available on this node" is not "no cameras configured".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Sparkline, Static

from fieldkit.render import terminal_safe
from fieldkit.views import (
    CamerasView,
    CameraView,
    DronesView,
    DroneView,
    FleetNode,
    FleetView,
    HealthView,
    KitView,
    SensorsView,
    SyncStatusView,
    ZoneView,
)

# --- formatting -----------------------------------------------------------------------


def seconds_text(seconds: float | None) -> str:
    """A duration for a crew: 0.4 s, 12 s, 4 min, 2 h 5 min, 3 d; "-" when unknown."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"
    return f"{minutes // 1440} d"


def ago(seconds: float | None) -> str:
    """``12 s ago``; "never" when there was nothing."""
    return "never" if seconds is None else f"{seconds_text(max(0.0, seconds))} ago"


def ago_ms(ms: int | float | None, now_ms: int) -> str:
    """How long before ``now_ms`` a node wall-clock time (ms) was."""
    return ago(None if ms is None else (now_ms - ms) / 1000)


def amount(value: float | None, unit: str, digits: int = 0) -> str:
    """``81 %``, ``4.2 m/s``; "-" when unknown."""
    return "-" if value is None else f"{value:.{digits}f} {unit}".rstrip()


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}".removesuffix(".0")


_GOOD = {"streaming", "trusted", "running", "fix"}
_BAD = {"reconnecting", "ended", "stopped", "revoked", "unknown", "disconnected"}


def state_text(state: str) -> Text:
    style = "bold green" if state in _GOOD else "bold red" if state in _BAD else "yellow"
    return Text(state, style=style)


def _table() -> Table:
    return Table(expand=True, show_edge=False, pad_edge=False, header_style="bold")


@dataclass(frozen=True)
class Fetched:
    """What the panels last got from the node, and when (console clock, ms)."""

    at_ms: int
    health: HealthView | None = None
    cameras: CamerasView | None = None
    drones: DronesView | None = None
    sync: SyncStatusView | None = None
    fleet: FleetView | None = None
    sensors: SensorsView | None = None


STALE_AFTER_MS = 20_000
"""Panels not refreshed for this long (four polls missed) say their data is stale."""


def as_of(fetched: Fetched | None, now_ms: int) -> Text:
    if fetched is None:
        return Text("waiting for the node...", style="dim")
    if now_ms - fetched.at_ms > STALE_AFTER_MS:
        return Text(f"STALE: as of {ago_ms(fetched.at_ms, now_ms)} (the node has not "
                    "answered since)", style="bold red")
    return Text(f"as of {ago_ms(fetched.at_ms, now_ms)}", style="dim")


def not_available(name: str) -> Text:
    return Text(f"{name}: not available on this node (it does not run this part).",
                style="yellow")


# --- cameras --------------------------------------------------------------------------


def camera_line(name: str, camera: CameraView, now_ms: int) -> Text:
    """Name, kind, state, rates and the newest frame's age."""
    line = Text.assemble((terminal_safe(name), "bold"), f"  {camera.kind}  ",
                         state_text(camera.state))
    line.append(f"  {amount(camera.fps_in, 'fps', 1)} in, "
                f"{amount(camera.fps_analysed, 'fps', 1)} analysed"
                f"  frame {ago_ms(camera.last_frame_ms, now_ms)}")
    if camera.people is not None:
        line.append(f"  {camera.people} people in view", style="bold")
    if camera.last_error:
        line.append(f"  {terminal_safe(camera.last_error)}", style="red")
    return line


def zone_line(zone: ZoneView, now_ms: int) -> Text:
    """Count, density (with its band), level of service, and the window's age."""
    density = f"{zone.density:.2f} /m²"
    if zone.band is not None:
        density += f" ({zone.band[0]:.2f}-{zone.band[1]:.2f})"
    level_style = "bold red" if zone.level in "EF" else "bold yellow" if zone.level == "D" \
        else "green"
    line = Text.assemble(
        f"  {terminal_safe(zone.zone)}: ", (f"{_count(zone.count)} people", "bold"),
        f" (peak {zone.peak})  {density}  level ", (zone.level, level_style),
        f"  {seconds_text(zone.window_s)} window {ago_ms(zone.end_ms, now_ms)}")
    if zone.method:
        line.append(f"  by {zone.method}", style="dim")
    if zone.uncertain:
        line.append(f"  uncertain: {terminal_safe(zone.uncertain)}", style="bold yellow")
    return line


class CamerasPanel(VerticalScroll):
    """Each camera and drone feed, then each of its zones with a sparkline of the count
    over its recent windows."""

    DEFAULT_CSS = """
    CamerasPanel { padding: 0 1; }
    CamerasPanel .zone-row { height: auto; }
    CamerasPanel .zone-row Static { width: 1fr; height: auto; }
    CamerasPanel .zone-row Sparkline { width: 24; height: 1; margin-left: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="info-panel")
        self.fetched: Fetched | None = None
        self._head = Static(as_of(None, 0), id="cameras-head")
        self._lines: dict[tuple[str, str | None], Static] = {}
        self._sparks: dict[tuple[str, str], Sparkline] = {}

    def compose(self) -> ComposeResult:
        yield self._head

    def show(self, fetched: Fetched, now_ms: int) -> None:
        self.fetched = fetched
        cameras = {} if fetched.cameras is None else fetched.cameras.root
        shape: list[tuple[str, str | None]] = [(name, None) for name in cameras] + [
            (name, z.zone) for name, camera in cameras.items() for z in camera.zones]
        shape.sort(key=lambda item: (item[0], item[1] or ""))
        if shape != list(self._lines):  # rows come and go: rebuild; else update in place
            self.remove_children(".camera-row, .zone-row")
            self._lines, self._sparks = {}, {}
            self.mount_all([self._row(name, zone) for name, zone in shape])
        self.redraw(now_ms)

    def _row(self, name: str, zone: str | None) -> Static | Horizontal:
        key = _key(name, zone)
        line = self._lines[name, zone] = Static(id=f"cam-{key}" if zone is None
                                                else f"zone-{key}")
        if zone is None:
            line.add_class("camera-row")
            return line
        spark = self._sparks[name, zone] = Sparkline([], id=f"spark-{key}")
        return Horizontal(line, spark, classes="zone-row")

    def redraw(self, now_ms: int) -> None:
        fetched = self.fetched
        if fetched is None:
            return
        if fetched.cameras is None:
            self._head.update(Group(not_available("Cameras"), as_of(fetched, now_ms)))
            return
        if not fetched.cameras.root:
            self._head.update(Group(Text("No cameras configured on this node.", style="bold"),
                                    as_of(fetched, now_ms)))
            return
        self._head.update(as_of(fetched, now_ms))
        for name, camera in fetched.cameras.root.items():
            self._lines[name, None].update(camera_line(name, camera, now_ms))
            for zone in camera.zones:
                self._lines[name, zone.zone].update(zone_line(zone, now_ms))
                self._sparks[name, zone.zone].data = zone.counts


def _key(name: str, zone: str | None) -> str:
    """A widget id from a camera (and zone) name: ids take letters, digits, - and _."""
    raw = name if zone is None else f"{name}--{zone}"
    return "".join(c if c.isalnum() or c in "-_" else f"_{ord(c):x}" for c in raw)


# --- drones ---------------------------------------------------------------------------


def drones_table(drones: DronesView, now_ms: int) -> Table:
    """One row per vehicle. A field group older than the node's threshold (the view's
    ``stale``) is dimmed and says its age: it is never shown as the drone's state now."""
    table = _table()
    table.expand = False  # natural widths: the position stays on one line at 80 columns
    for column in ("drone", "mode", "position", "alt", "speed", "battery", "seen"):
        table.add_column(column, overflow="fold", no_wrap=column == "position")
    for d in sorted(drones.vehicles, key=lambda d: d.vehicle):
        old = set(d.stale)
        table.add_row(
            Text(d.vehicle, style="bold"),
            _dated(f"{d.mode or '-'}{' armed' if d.armed else ''}",
                   "bold yellow" if d.armed else "", "heartbeat" in old),
            _dated(_position(d), "", "position" in old, d.position_age_s),
            _dated(amount(d.alt_rel_m, "m"), "", "position" in old),
            _dated(amount(d.groundspeed_ms, "m/s", 1), "", "velocity" in old),
            _dated(_battery(d), "bold red" if _low(d) else "", "battery" in old,
                   d.battery_age_s),
            _telemetry(d, now_ms))
    return table


def _dated(text: str, style: str, stale: bool, age_s: float | None = None) -> Text:
    """``text`` as is, or dimmed with its age when stale."""
    if not stale:
        return Text(text, style=style)
    return Text(text + ("" if age_s is None else f" {seconds_text(age_s)} old"),
                style="dim italic")


def _position(d: DroneView) -> str:
    if d.lat is None or d.lon is None:
        return "no fix"
    fix = f" ±{d.gps_accuracy_m:.0f} m" if d.gps_accuracy_m is not None else ""
    return f"{d.lat:.5f},{d.lon:.5f}{fix}"


def _low(d: DroneView) -> bool:
    return d.battery_pct is not None and d.battery_pct < 25


def _battery(d: DroneView) -> str:
    text = amount(d.battery_pct, "%")
    if d.battery_v is not None:
        text += f" {d.battery_v:.1f} V"
    return text


def _heard_ms(d: DroneView) -> float:
    """When the vehicle was last heard: the newest of its fields (the sample's time for
    a node that reports no ages)."""
    ages = [a for a in (d.heartbeat_age_s, d.position_age_s, d.velocity_age_s,
                        d.attitude_age_s, d.gimbal_age_s, d.battery_age_s, d.gps_age_s)
            if a is not None]
    return (d.at - (min(ages) if ages else 0.0)) * 1000


def _telemetry(d: DroneView, now_ms: int) -> Text:
    """When last heard; the autopilot's heartbeat only when it is late, loss when any."""
    text = Text(ago_ms(_heard_ms(d), now_ms))
    if d.heartbeat_age_s is not None and d.heartbeat_age_s > 5:
        text.append(f" no heartbeat for {seconds_text(d.heartbeat_age_s)}", style="bold red")
    if d.loss_pct:
        text.append(f" {d.loss_pct:.0f} % lost", style="yellow")
    return text


def drones_body(fetched: Fetched | None, now_ms: int) -> RenderableType:
    if fetched is None:
        return as_of(None, now_ms)
    if fetched.drones is None:
        return Group(not_available("Drones"), as_of(fetched, now_ms))
    if not fetched.drones.vehicles:
        return Group(Text("No drones connected to this node.", style="bold"),
                     as_of(fetched, now_ms))
    return Group(drones_table(fetched.drones, now_ms), as_of(fetched, now_ms))


# --- sync -----------------------------------------------------------------------------


def peers_table(status: SyncStatusView) -> Table:
    table = _table()
    for column in ("peer", "trust", "last contact", "to send", "to get", "lag", "problem"):
        table.add_column(column, overflow="fold")
    for p in status.peers:
        problem = Text("")
        if p.last_error:
            problem = Text(f"{p.failures} failed: {terminal_safe(p.last_error[:80])}",
                           style="red")
        table.add_row(Text(p.peer, style="bold"), state_text(p.trust),
                      ago(p.last_contact_s_ago), _events(p.pending_out),
                      _events(p.pending_in), seconds_text(p.lag_s), problem)
    return table


def _events(n: int | None) -> str:
    return "-" if n is None else f"{n:,} ev"


def origins_table(origins: dict[str, int], own: str) -> Table:
    """The log's version vector (events held per origin node): what sync has brought."""
    table = Table(title="events held per origin node", expand=False, show_edge=False,
                  header_style="bold", title_justify="left")
    table.add_column("origin")
    table.add_column("highest seq", justify="right")
    for origin, seq in sorted(origins.items()):
        table.add_row(origin + (" (this node)" if origin == own else ""), f"{seq:,}")
    return table


def fleet_table(fleet: FleetView) -> Table:
    """The fleet picture (``GET /api/hq/fleet``): per node, last sync, open incidents,
    cameras and drones reported (how many down), and the zones its city sensors reported
    degraded (the worst state; "sensors silent" when some stopped reporting)."""
    table = Table(title="fleet", expand=False, show_edge=False, header_style="bold",
                  title_justify="left")
    for column in ("node", "last sync", "last event", "open", "cameras", "drones", "zones"):
        table.add_column(column, justify="left" if column == "node" else "right")

    def kit(items: dict[str, KitView]) -> Text:
        down = sum(1 for v in items.values() if v.down)
        return Text(f"{len(items)}" + (f" ({down} down)" if down else ""),
                    style="bold red" if down else "")

    for node in fleet.nodes:
        table.add_row(node.node + (" (this node)" if node.is_self else ""),
                      ago(node.last_sync_s_ago), ago(node.last_event_s_ago),
                      str(node.open_incidents), kit(node.cameras), kit(node.drones),
                      zones(node))
    return table


_ZONE_ORDER = ("free", "degraded", "dense", "congested", "blocked")


def zones(node: FleetNode) -> Text:
    """How many zones its sensors reported, the worst state among them, silent sensors."""
    text = Text("-" if not node.zones else str(len(node.zones)))
    if node.zones:
        worst = max((z.state for z in node.zones.values()),
                    key=lambda s: _ZONE_ORDER.index(s) if s in _ZONE_ORDER else 1)
        text.append(f" ({worst})", style="bold red" if worst in ("congested", "blocked")
                    else "yellow" if worst != "free" else "")
    if node.sensors_silent:
        text.append(" sensors silent", style="yellow")
    return text


def sync_body(fetched: Fetched | None, now_ms: int) -> RenderableType:
    if fetched is None:
        return as_of(None, now_ms)
    parts: list[RenderableType] = []
    if fetched.sync is None:
        parts.append(not_available("Sync"))
    elif not fetched.sync.peers:
        parts.append(Text("No sync peers configured on this node.", style="bold"))
    else:
        parts.append(peers_table(fetched.sync))
    if fetched.fleet is not None:
        parts.append(fleet_table(fetched.fleet))
    if fetched.health is not None:
        parts.append(origins_table(fetched.health.origins, fetched.health.node))
    parts.append(as_of(fetched, now_ms))
    return Group(*parts)


class InfoPanel(Static):
    """A panel drawn by ``body(fetched, now_ms)`` (drones, sync)."""

    def __init__(self, body: Callable[[Fetched | None, int], RenderableType], *,
                 id: str | None = None) -> None:
        super().__init__(as_of(None, 0), id=id, classes="info-panel")
        self.body = body
        self.fetched: Fetched | None = None

    def show(self, fetched: Fetched, now_ms: int) -> None:
        self.fetched = fetched
        self.redraw(now_ms)

    def redraw(self, now_ms: int) -> None:
        if self.fetched is not None:
            self.update(self.body(self.fetched, now_ms))

