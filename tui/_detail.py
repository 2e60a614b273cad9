"""One incident in full: state, conflicts, units, links, attachments with a snapshot
preview, notes, and the timeline of every event with who wrote it and when.

The screen draws from the :class:`Incident` it is given at once, then loads the full
event list and the preview in workers; the app hands it newer states as they stream in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from fieldkit.fold import Incident
from fieldkit.hlc import to_wall_ms
from fieldkit.render import terminal_safe, where
from fieldkit.views import EventView
from tui._client import ClientError, NodeClient
from tui._model import SEVERITY_NAMES, STATUS_LABELS, age_text
from tui._preview import PreviewError, render_preview


def clock_text(ms: int) -> str:
    """Wall time as HH:MM:SS UTC (trucks of one fleet may sit in different time zones)."""
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000))


def day_text(ms: int) -> str:
    """A date and time, UTC, for what happened days ago (an image's expiry)."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


def describe_event(event: EventView) -> str:
    """One line for the timeline from an event in wire form."""
    kind, p = event.kind, event.payload
    if kind == "create":
        return f"created: {p.get('title', '')} (sev {p.get('severity', '?')}, {p.get('kind', '')})"
    if kind == "status":
        reason = f" ({p['reason']})" if p.get("reason") else ""
        return f"status -> {p.get('status', '?')}{reason}"
    if kind == "set":
        value = p.get("value")
        return f"cleared {p.get('field', '?')}" if value is None \
            else f"set {p.get('field', '?')} = {value!r}"
    if kind == "assign":
        return f"assigned {p.get('agency', '?')} {p.get('unit', '?')}"
    if kind == "unassign":
        return f"unassigned {p.get('agency', '?')} {p.get('unit', '?')}"
    if kind == "note":
        return f"note: {p.get('text', '')}"
    if kind == "attach":
        return f"attached {p.get('name', '?')} ({p.get('mime', '?')}, {p.get('size', '?')} B)"
    if kind == "link":
        return f"linked {p.get('target', '?')} {p.get('ref', '?')}"
    return f"{kind} (from a newer fieldkit)"


def timeline_from_incident(i: Incident) -> list[tuple[int, str, str]]:
    """(ms, who, what) from the folded state, used until the full event list arrives."""
    rows = [(t.at, t.by, f"status -> {t.status.value}" + (f" ({t.reason})" if t.reason else ""))
            for t in i.transitions]
    rows[:1] = [(i.created_at, i.reported_by, f"created: {i.title}")] if rows else []
    rows += [(n.at, n.by, f"note: {n.text}") for n in i.notes]
    rows += [(a.at, a.by, f"assigned {a.agency} {a.unit}") for a in i.assigned]
    rows += [(a.at, a.by, f"attached {a.name}") for a in i.attachments]
    rows += [(ln.at, ln.by, f"linked {ln.target} {ln.ref}") for ln in i.links]
    return sorted(rows)


def timeline_from_events(events: list[EventView]) -> list[tuple[int, str, str]]:
    return [(to_wall_ms(e.hlc), e.origin, describe_event(e)) for e in events]


class DetailScreen(Screen[None]):
    """The incident ``incident``; keys act on it as on the board's selected row."""

    BINDINGS = [  # noqa: RUF012 (textual's class-level convention)
        Binding("escape,backspace", "app.pop_screen", "Back"),
        Binding("a", "app.acknowledge", "Ack"),
        Binding("s", "app.change_status", "Status"),
        Binding("u", "app.assign", "Assign"),
        Binding("n", "app.note", "Note"),
        Binding("r", "app.resolve", "Resolve conflict"),
    ]

    def __init__(self, incident: Incident, client: NodeClient | None,
                 now_ms: Callable[[], int]) -> None:
        super().__init__(id="detail")
        self.incident = incident
        self.client = client
        self.now_ms = now_ms
        self.events: list[EventView] | None = None
        self.preview_of: str | None = None

    @property
    def incident_id(self) -> str:
        return self.incident.id

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-body"):
            yield Static(id="detail-head")
            yield Static(id="detail-conflicts")
            yield Static(id="detail-units")
            yield Static(id="detail-links")
            yield Static(id="detail-attachments")
            yield Static("", id="detail-preview")
            yield Static(id="detail-timeline")
        yield Footer()

    def on_mount(self) -> None:
        self.draw()
        self.load()

    def update_incident(self, incident: Incident) -> None:
        """A newer state arrived (from the live stream or an action)."""
        self.incident = incident
        self.draw()
        self.load()

    @work(exclusive=True, group="detail")
    async def load(self) -> None:
        if self.client is None:
            return
        try:
            self.events = await self.client.events(self.incident.id)
        except ClientError as exc:
            self.notify(f"timeline: {exc}", severity="warning")
        else:
            self.draw()
        await self._load_preview()

    async def _load_preview(self) -> None:
        images = [a for a in self.incident.attachments if a.mime.startswith("image/")]
        widget = self.query_one("#detail-preview", Static)
        if images and images[-1].expired_at is not None:
            widget.update(f"[dim]snapshot {escape(images[-1].name)}: image expired on "
                          f"{day_text(images[-1].expired_at)} (retention)[/]")
            return
        if not images or self.client is None or self.preview_of == images[-1].blob:
            return
        latest = images[-1]
        widget.update(f"[dim]loading snapshot {escape(latest.name)}...[/]")
        try:
            mime, data = await self.client.blob(latest.blob)
            picture = await asyncio.to_thread(render_preview, data, mime,
                                              min(60, max(20, self.size.width - 4)), 14)
        except (ClientError, PreviewError) as exc:
            widget.update(f"[yellow]snapshot {escape(latest.name)}: {escape(str(exc))}[/]")
            return
        except Exception as exc:  # a corrupt image must not take the console down
            widget.update(f"[yellow]snapshot {escape(latest.name)}: cannot draw it "
                          f"({escape(type(exc).__name__)})[/]")
            return
        self.preview_of = latest.blob
        widget.update(picture)

    def draw(self) -> None:
        i, now = self.incident, self.now_ms()
        head = Text()
        head.append(f"{terminal_safe(i.title)}\n", style="bold")
        head.append(f"SEV {i.severity} {SEVERITY_NAMES.get(i.severity, '')}",
                    style="bold red" if i.severity >= 4 else "bold")
        head.append(f"   {STATUS_LABELS[i.status]}", style="bold reverse")
        head.append(f"   {i.kind}\n")
        head.append(f"where   {where(i)}\n")
        head.append(f"source  {i.source}, reported by {i.reported_by} at "
                    f"{clock_text(i.created_at)} UTC ({age_text(i.created_at, now)} ago)\n")
        head.append(f"id      {i.id}")
        if i.description:
            head.append(f"\n{terminal_safe(i.description)}", style="italic")
        self.query_one("#detail-head", Static).update(head)

        conflicts = self.query_one("#detail-conflicts", Static)
        conflicts.display = bool(i.conflicts)
        if i.conflicts:
            lines = Text("CONFLICT: concurrent edits (press r to resolve)\n", style="bold")
            for c in i.conflicts:
                values = ", ".join(f"{cand.value!r} by {cand.by} at {clock_text(cand.at)}"
                                   for cand in c.candidates)
                lines.append(f"  {c.field}: {values}; showing {c.winner!r}\n")
            lines.rstrip()
            conflicts.update(lines)

        units = ", ".join(f"{a.agency} {a.unit} (by {a.by} {age_text(a.at, now)} ago)"
                          for a in i.assigned) or "none assigned (press u)"
        self.query_one("#detail-units", Static).update(Text(f"units   {units}"))
        cams = [ln.ref for ln in i.links if ln.target == "camera"]
        drones = [ln.ref for ln in i.links if ln.target == "drone"]
        self.query_one("#detail-links", Static).update(Text(
            f"cameras {', '.join(cams) or '-'}   drones {', '.join(drones) or '-'}"))
        attachments = self.query_one("#detail-attachments", Static)
        attachments.display = bool(i.attachments)
        attachments.update(Text("\n".join(
            f"attached {a.name} ({a.mime}, {a.size:,} B) by {a.by}"
            + ("" if a.expired_at is None else f", image expired on {day_text(a.expired_at)}")
            for a in i.attachments)))
        preview = self.query_one("#detail-preview", Static)
        preview.display = any(a.mime.startswith("image/") for a in i.attachments)
        if preview.display and self.client is None and self.preview_of is None:
            preview.update("[dim]snapshot preview needs a connection to the node[/]")

        rows = timeline_from_events(self.events) if self.events is not None \
            else timeline_from_incident(i)
        timeline = Text(f"TIMELINE ({len(rows)} events, times UTC)\n", style="bold")
        for at, who, what in rows:
            timeline.append(f"{clock_text(at)} ", style="bold")
            timeline.append(f"{who:<6} ", style="cyan")
            timeline.append(f"{terminal_safe(what)}\n")
        timeline.rstrip()
        self.query_one("#detail-timeline", Static).update(timeline)
