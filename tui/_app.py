"""The crew console: :class:`FieldkitApp`.

Data flow: one long worker (group ``stream``) fetches the node's cursor and incidents,
then follows the live event stream, resuming by ``Last-Event-ID`` after any cut and
retrying with back-off while the node is unreachable. Each streamed event marks its
incident dirty; another worker fetches dirty incidents and the board redraws. Panels
poll the node's typed views (health, cameras, sync, fleet, sensors) every few seconds and the
drones every second, so drones move on the map as their telemetry arrives; ages are
redrawn every second. Actions run in workers too, so no key ever waits on the network.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from enum import StrEnum
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.theme import Theme
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from fieldkit.fold import Incident
from fieldkit.views import HealthView
from fieldkit.vocabulary import Status
from tui._board import BoardTable, RowRenderer
from tui._client import ClientError, NodeClient, NodeError, NodeUnreachable, StreamEvent
from tui._detail import DetailScreen, clock_text
from tui._forms import (
    assign_form,
    create_form,
    filter_form,
    note_form,
    resolve_form,
    status_form,
)
from tui._map import IncidentMap, Marker, drone_markers
from tui._model import SORTS, BoardModel, Filter, FilterError
from tui._panels import CamerasPanel, Fetched, InfoPanel, drones_body, sync_body
from tui._zones import ZonesPanel

logger = logging.getLogger(__name__)

HIGH_CONTRAST = Theme(
    name="fieldkit-high-contrast", primary="#ffff00", secondary="#00ffff", accent="#ffffff",
    warning="#ffaf00", error="#ff3030", success="#00ff00", foreground="#ffffff",
    background="#000000", surface="#000000", panel="#1c1c1c", dark=True,
)
DEFAULT_THEME = "textual-dark"
PANEL_POLL_S = 5.0
DRONE_POLL_S = 1.0
"""Drones move: their positions are fetched this often (the map follows them)."""
FIRST_PAGE = 200
"""Incidents fetched first on a big log, so the board shows before the whole list."""
MAX_DIRTY_FETCH = 100
"""More dirty incidents than this at once (a sync burst): reload the whole list instead."""


class LinkState(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    UNREACHABLE = "unreachable"
    OFFLINE = "offline"
    """No node at all: the app shows the incidents it was given (snapshots, replays)."""


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class FieldkitApp(App[None]):
    """The console for the node behind ``client``.

    :param client: the node's API; None shows ``incidents`` without a node.
    :param incidents: initial incidents (the node's list replaces them once loaded).
    :param health: initial health (for an app without a node).
    :param parts: what the panels show until the node answers (for an app without a node).
    :param now_ms: wall clock in ms; relative times are drawn from it (tests fix it).
    :param bell: ring the terminal bell when a new incident arrives.
    :param high_contrast: start in the high-contrast theme.
    :param retry_s: first reconnect delay; doubles up to ``max_retry_s``.
    """

    CSS_PATH = "fieldkit.tcss"
    TITLE = "fieldkit"
    BINDINGS = [  # noqa: RUF012 (textual's class-level convention)
        Binding("c", "create", "New"),
        Binding("a", "acknowledge", "Ack"),
        Binding("u", "assign", "Assign"),
        Binding("s", "change_status", "Status"),
        Binding("n", "note", "Note"),
        Binding("f", "filter", "Filter"),
        Binding("o", "sort", "Sort"),
        Binding("x", "clear_filter", "All", show=False),
        Binding("r", "resolve", "Resolve", show=False),
        Binding("1", "tab('board')", "Board", show=False),
        Binding("2", "tab('map')", "Map", show=False),
        Binding("3", "tab('cameras')", "Cameras", show=False),
        Binding("4", "tab('drones')", "Drones", show=False),
        Binding("5", "tab('sync')", "Sync", show=False),
        Binding("6", "tab('zones')", "Zones", show=False),
        Binding("b", "toggle_bell", "Bell", show=False),
        Binding("h", "toggle_contrast", "Contrast", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, client: NodeClient | None, *, incidents: Iterable[Incident] = (),
                 health: HealthView | None = None, parts: Fetched | None = None,
                 now_ms: Callable[[], int] = wall_ms, bell: bool = False,
                 high_contrast: bool = False, retry_s: float = 1.0,
                 max_retry_s: float = 10.0) -> None:
        super().__init__()
        self.client = client
        self.model = BoardModel()
        self.model.replace_all(incidents)
        self.health = health
        self.now_ms = now_ms
        self.bell_on = bell
        self.retry_s, self.max_retry_s = retry_s, max_retry_s
        self.state = LinkState.CONNECTING if client else LinkState.OFFLINE
        self.state_detail = ""
        self.state_since = now_ms()
        self.cursor: int | None = None
        self.dirty: set[str] = set()
        self.renderer = RowRenderer(now_ms)
        self.register_theme(HIGH_CONTRAST)
        self.theme = HIGH_CONTRAST.name if high_contrast else DEFAULT_THEME
        self.parts = parts if parts is not None or health is None else Fetched(
            now_ms(), health=health)
        """What the panels show: the node's views and when they were fetched."""
        self.panel_polls = 0
        self.loading = False
        self.attempts = 0
        """Connection attempts so far (the first one included)."""

    # --- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="status-line")
        with TabbedContent(initial="board", id="tabs"):
            with TabPane("1 Board", id="board"):
                yield BoardTable(self.renderer, id="board-table")
            with TabPane("2 Map", id="map"):
                yield IncidentMap(id="incident-map")
            with TabPane("3 Cameras", id="cameras"):
                yield CamerasPanel(id="panel-cameras")
            with TabPane("4 Drones", id="drones"):
                yield InfoPanel(drones_body, id="panel-drones")
            with TabPane("5 Sync", id="sync"):
                yield InfoPanel(sync_body, id="panel-sync")
            with TabPane("6 Zones", id="zones"):
                yield ZonesPanel(id="panel-zones")
        yield Footer()

    @property
    def table(self) -> BoardTable:
        return self.query_one("#board-table", BoardTable)

    def on_mount(self) -> None:
        self.table.set_columns(self.size.width)
        self.refresh_view()
        if self.parts is not None:
            self.show_panels()
        self.table.focus()
        if self.client is not None:
            self.follow()
            self.set_interval(PANEL_POLL_S, self.poll_panels)
            self.set_interval(DRONE_POLL_S, self.poll_drones)
            self.set_interval(1.0, self.redraw_ages)  # "12 s ago" keeps counting
            self.set_interval(30.0, self.refresh_view)  # relative ages

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()

    def on_resize(self) -> None:
        if self.table.is_mounted and self.table.set_columns(self.size.width):
            self.refresh_view()

    # --- drawing ----------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        """The console is closing: textual removes the screens' widgets before it stops
        the app's workers, so an answer a worker gets now has nowhere to be drawn."""
        return not self.is_running

    def refresh_view(self) -> None:
        if self.closing:
            return
        view = self.model.view()
        self.table.show(view, self.model.fresh)
        self.query_one(IncidentMap).show(view, self.drone_markers())
        self.draw_status(len(view))

    def drone_markers(self) -> list[Marker]:
        return drone_markers(None if self.parts is None else self.parts.drones)

    def draw_status(self, shown: int | None = None) -> None:
        if self.closing:
            return
        open_count, total = self.model.counts()
        if shown is None:
            shown = self.table.row_count
        line = Text()
        node = "?" if self.health is None else self.health.node
        if self.state is LinkState.LIVE:
            line.append(" ● LIVE ", style="bold black on green")
        elif self.state is LinkState.CONNECTING:
            line.append(" … CONNECTING ", style="bold black on yellow")
        elif self.state is LinkState.UNREACHABLE:
            line.append(f" ✖ NODE UNREACHABLE since {clock_text(self.state_since)} UTC, "
                        "retrying; data may be stale ", style="bold white on red")
        else:
            line.append(" OFFLINE (no node) ", style="bold black on yellow")
        line.append(f" {node} ")
        if self.loading:
            everything = "?" if self.health is None else self.health.incidents
            line.append(f"loading all {everything}; top {total} shown",
                        style="bold yellow")
        else:
            line.append(f"{open_count} open/{total}", style="bold")
        if self.model.fresh:
            line.append(f"  {len(self.model.fresh)} NEW", style="bold reverse")
        if self.model.filter.active:
            line.append(f"  filter {self.model.filter.describe()} ({shown})", style="bold yellow")
        line.append(f"  sort {self.model.sort}{' rev' if self.model.reverse else ''}")
        if self.bell_on:
            line.append("  bell", style="bold")
        if self.state is LinkState.UNREACHABLE and self.state_detail:
            line.append(f"  {self.state_detail}", style="red")
        status = self.query_one("#status-line", Static)
        status.update(line, layout=False)  # one line, fixed height: no re-layout per key
        status.set_class(self.state is LinkState.UNREACHABLE, "-unreachable")

    def set_state(self, state: LinkState, detail: str = "") -> None:
        if state is not self.state:
            logger.info("link %s -> %s %s", self.state, state, detail)
            self.state_since = self.now_ms()
            if state is LinkState.UNREACHABLE:
                self.notify(f"Node unreachable: {detail}", severity="error", timeout=6)
            elif state is LinkState.LIVE and self.state is LinkState.UNREACHABLE:
                self.notify("Node reachable again: live", timeout=4)
        self.state, self.state_detail = state, detail
        self.draw_status()

    def show_panels(self) -> None:
        if self.parts is None:
            return
        now = self.now_ms()
        self.query_one(CamerasPanel).show(self.parts, now)
        self.query_one(ZonesPanel).show(self.parts, now)
        for panel in self.query(InfoPanel):
            panel.show(self.parts, now)

    def redraw_ages(self) -> None:
        now = self.now_ms()
        self.query_one(CamerasPanel).redraw(now)
        self.query_one(ZonesPanel).redraw(now)
        for panel in self.query(InfoPanel):
            panel.redraw(now)

    # --- network workers --------------------------------------------------------------

    @work(exclusive=True, group="stream")
    async def follow(self) -> None:
        """Load, then follow the live stream; reconnect and resume forever."""
        assert self.client is not None
        delay = self.retry_s
        while True:
            self.attempts += 1
            try:
                if self.cursor is not None:
                    # Reachable again? And is it the same log (a replaced database
                    # starts its cursor over): then resume, else load everything.
                    health = await self.client.health()
                    if health.cursor < self.cursor:
                        self.cursor = None
                if self.cursor is None:
                    await self._load_all()
                self.set_state(LinkState.LIVE)
                delay = self.retry_s
                async for event in self.client.stream(self.cursor or 0):
                    self._on_stream_event(event)
            except (ClientError, ValueError) as exc:
                self.set_state(LinkState.UNREACHABLE, str(exc))
            except Exception as exc:  # the console must stay up whatever the node sends
                logger.exception("live stream failed")
                self.set_state(LinkState.UNREACHABLE, f"unexpected: {exc!r}")
            await asyncio.sleep(delay)  # back-off before reconnecting
            delay = min(delay * 2, self.max_retry_s)

    async def _load_all(self) -> None:
        assert self.client is not None
        health = await self.client.health()
        self.health = health
        cursor = health.cursor
        if not self.model.incidents and health.incidents > FIRST_PAGE:
            # A big log: draw the top of the board (same order) while the rest loads.
            self.model.replace_all(await self.client.incidents(limit=FIRST_PAGE))
            self.loading = True
            self.refresh_view()
        incidents = await self.client.incidents()
        self.model.replace_all(incidents)
        self.loading = False
        self.cursor = cursor
        self.refresh_view()
        self.poll_panels()

    def _on_stream_event(self, event: StreamEvent) -> None:
        self.cursor = event.cursor
        if event.incident:
            self.dirty.add(event.incident)
            self.fetch_dirty()

    @work(exclusive=True, group="dirty")
    async def fetch_dirty(self) -> None:
        assert self.client is not None
        while self.dirty:
            if len(self.dirty) > MAX_DIRTY_FETCH:
                self.dirty.clear()
                await self._load_all()
                continue
            for incident_id in list(self.dirty):
                try:
                    incident = await self.client.incident(incident_id)
                except NodeError as exc:
                    if exc.status != 404:
                        self.notify(f"cannot load incident {incident_id}: {exc}",
                                    severity="error")
                    self.dirty.discard(incident_id)  # 404: not folded yet (deferred events)
                    continue
                except (NodeUnreachable, ValueError):
                    return  # the stream worker reports it, reconnects and resumes
                self.dirty.discard(incident_id)
                self.upsert(incident, live=True)
            self.refresh_view()

    def upsert(self, incident: Incident, *, live: bool = False) -> None:
        is_new = self.model.upsert(incident, live=live)
        if is_new and live:
            if incident.severity >= 5:  # toasts cover rows at 80x24: mass casualty only
                self.notify(f"NEW sev 5: {incident.title}", severity="error", timeout=4)
            if self.bell_on:
                self.bell()
        for screen in self.screen_stack:
            if isinstance(screen, DetailScreen) and screen.incident_id == incident.id:
                screen.update_incident(incident)

    @work(exclusive=True, group="panels")
    async def poll_panels(self) -> None:
        if self.client is None:
            return
        client = self.client
        try:
            health = await client.health()
            parts = Fetched(self.now_ms(), health=health, cameras=await client.cameras(),
                            drones=await client.drones(), sync=await client.sync_status(),
                            fleet=await client.fleet(), sensors=await client.sensors())
        except NodeError as exc:  # an answer that does not fit the views: say so, keep going
            self.notify(f"panels: {exc}", severity="warning", timeout=6)
            return
        except ClientError:
            return  # the stream worker owns the reachability state
        self.health, self.parts = health, parts
        if self.closing:
            return  # the answer came in as the console was closing
        self.show_panels()
        self.refresh_view()  # the drones' markers
        self.panel_polls += 1
        self.draw_status()

    @work(exclusive=True, group="drones")
    async def poll_drones(self) -> None:
        """Drones between panel polls: the map and the drone panel follow them."""
        if self.client is None or self.parts is None or self.parts.drones is None:
            return  # no drone part on this node (or nothing fetched yet)
        try:
            drones = await self.client.drones()
        except ClientError:
            return
        self.parts = replace(self.parts, drones=drones)  # each row says its telemetry's age
        if self.closing:
            return
        self.query_one(IncidentMap).show_markers(self.drone_markers())
        self.query_one("#panel-drones", InfoPanel).show(self.parts, self.now_ms())

    # --- actions ----------------------------------------------------------------------

    def selected(self) -> Incident | None:
        if isinstance(self.screen, DetailScreen):
            return self.model.incidents.get(self.screen.incident_id, self.screen.incident)
        current = self.table.current_id()
        return self.model.incidents.get(current) if current else None

    def _need_selected(self) -> Incident | None:
        incident = self.selected()
        if incident is None:
            self.notify("No incident selected", severity="warning")
        return incident

    def _need_node(self) -> bool:
        if self.client is None:
            self.notify("Not connected to a node: actions are off", severity="error")
            return False
        return True

    @work(group="write")
    async def write(self, what: str, call: Callable[[NodeClient], Any]) -> None:
        """Run one action against the node. Not exclusive: cancelling a write in flight
        would leave the crew unsure whether it was saved."""
        assert self.client is not None
        try:
            incident = await call(self.client)
        except NodeError as exc:
            self.notify(f"{what} refused: {exc.message}", severity="error", timeout=8)
            return
        except NodeUnreachable as exc:
            self.notify(f"{what} NOT SAVED, node unreachable: {exc}", severity="error",
                        timeout=10)
            return
        except ValueError as exc:  # saved, but the answer was not an incident we can read
            self.notify(f"{what}: unexpected answer from the node: {exc}", severity="warning")
            return
        self.upsert(incident)
        self.refresh_view()
        self.notify(f"{what}: saved", timeout=2)

    def action_create(self) -> None:
        if not self._need_node():
            return

        def done(values: dict[str, Any] | None) -> None:
            if not values:
                return
            body: dict[str, Any] = {"title": values["title"], "kind": values["kind"],
                                    "severity": int(values["severity"]), "source": "crew"}
            if values.get("zone"):
                body["location"] = {"zone": values["zone"]}
            if values.get("description"):
                body["description"] = values["description"]
            self.write("Create", lambda c: c.create(body))

        self.push_screen(create_form(), done)

    def action_acknowledge(self) -> None:
        incident = self._need_selected()
        if incident is None or not self._need_node():
            return
        if incident.status is not Status.NEW:
            # As `fieldkit incident ack`: a late ack must not pull an incident back.
            self.notify(f"Not acknowledged: it is already {incident.status.value}; "
                        "use s to change its status", severity="warning")
            return
        self.model.seen(incident.id)
        self.write("Acknowledge", lambda c: c.set_status(incident.id, "acknowledged"))

    def action_change_status(self) -> None:
        incident = self._need_selected()
        if incident is None or not self._need_node():
            return

        def done(values: dict[str, Any] | None) -> None:
            if values:
                self.write("Status", lambda c: c.set_status(
                    incident.id, values["status"], values.get("reason", "")))

        self.push_screen(status_form(incident), done)

    def action_assign(self) -> None:
        incident = self._need_selected()
        if incident is None or not self._need_node():
            return

        def done(values: dict[str, Any] | None) -> None:
            if values:
                self.write("Assign", lambda c: c.assign(
                    incident.id, values["agency"], values["unit"]))

        self.push_screen(assign_form(incident), done)

    def action_note(self) -> None:
        incident = self._need_selected()
        if incident is None or not self._need_node():
            return

        def done(values: dict[str, Any] | None) -> None:
            if values:
                self.write("Note", lambda c: c.add_note(incident.id, values["text"]))

        self.push_screen(note_form(incident), done)

    def action_resolve(self) -> None:
        incident = self._need_selected()
        if incident is None or not self._need_node():
            return
        if not incident.conflicts:
            self.notify("No conflict on this incident")
            return

        def done(values: dict[str, Any] | None) -> None:
            if not values:
                return
            chosen = {name: json.loads(raw) for name, raw in values.items()}
            status = chosen.pop("status", None)
            if status is not None:
                self.write("Resolve status", lambda c: c.set_status(
                    incident.id, status, "conflict resolved"))
            if chosen:
                self.write("Resolve", lambda c: c.update(incident.id, chosen))

        self.push_screen(resolve_form(incident), done)

    def action_filter(self) -> None:
        def done(values: dict[str, Any] | None) -> None:
            if values is None:
                return
            try:
                self.model.filter = Filter(
                    status=values.get("status", ""),
                    min_severity=int(values.get("min_severity", 0)),
                    kind=values.get("kind", ""), agency=values.get("agency", ""),
                    zone=values.get("zone", ""), text=values.get("text", ""))
            except FilterError as exc:
                self.notify(str(exc), severity="error")
                return
            self.refresh_view()

        self.push_screen(filter_form(self.model), done)

    def apply_filter(self, **changes: Any) -> None:
        self.model.set_filter(**changes)
        self.refresh_view()

    def action_clear_filter(self) -> None:
        self.model.filter = Filter()
        self.refresh_view()

    def action_sort(self, name: str = "") -> None:
        if name:
            self.model.set_sort(name, reverse=self.model.sort == name and not self.model.reverse)
        else:
            self.model.cycle_sort()
        self.refresh_view()

    def action_tab(self, name: str) -> None:
        if isinstance(self.screen, DetailScreen):
            self.pop_screen()
        self.query_one("#tabs", TabbedContent).active = name
        if name == "board":
            self.table.focus()

    def action_toggle_bell(self) -> None:
        self.bell_on = not self.bell_on
        self.notify(f"Bell on new incidents: {'on' if self.bell_on else 'off'}")
        self.draw_status()

    def action_toggle_contrast(self) -> None:
        self.theme = DEFAULT_THEME if self.theme == HIGH_CONTRAST.name else HIGH_CONTRAST.name

    def open_detail(self, incident_id: str) -> None:
        incident = self.model.incidents.get(incident_id)
        if incident is None:
            return
        self.model.seen(incident_id)
        self.refresh_view()
        self.push_screen(DetailScreen(incident, self.client, self.now_ms))

    @on(DataTable.RowSelected, "#board-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.open_detail(str(event.row_key.value))

    @on(DataTable.HeaderSelected, "#board-table")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.action_sort(self.table.sort_for_column(str(event.column_key.value)))

    # --- command palette --------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        commands: Sequence[tuple[str, str, Callable[[], Any]]] = [
            ("New incident", "Create an incident (c)", self.action_create),
            ("Acknowledge", "Acknowledge the selected incident (a)", self.action_acknowledge),
            ("Assign a unit", "Assign an agency's unit (u)", self.action_assign),
            ("Change status", "Move the selected incident along (s)", self.action_change_status),
            ("Add note", "Add a note to the selected incident (n)", self.action_note),
            ("Resolve conflict", "Pick the value of a conflicted field (r)",
             self.action_resolve),
            ("Filter", "Filter the board (f)", self.action_filter),
            ("Filter: open only", "Hide resolved and closed",
             lambda: self.apply_filter(status="open")),
            ("Filter: severity 4+", "Only high and mass-casualty incidents",
             lambda: self.apply_filter(min_severity=4)),
            ("Filter: clear", "Show every incident (x)", self.action_clear_filter),
            ("Toggle bell", "Ring on new incidents (b)", self.action_toggle_bell),
            ("Toggle high contrast", "For a bright console (h)", self.action_toggle_contrast),
        ]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)
        for name in SORTS:
            yield SystemCommand(f"Sort by {name}", f"Order the board by {name}",
                                lambda name=name: self.action_sort(name))
        for tab in ("board", "map", "cameras", "drones", "sync", "zones"):
            yield SystemCommand(f"Show {tab}", f"Switch to the {tab} tab",
                                lambda tab=tab: self.action_tab(tab))
