"""Modal forms for the crew's actions: one :class:`FormScreen` drawn from field specs.

Enter submits from any field, Escape cancels. The form dismisses with a dict of the
values (empty optional fields left out) or None when cancelled. Values are checked here
only for presence; the node checks the rest and its message is shown to the crew.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from fieldkit.fold import Incident
from fieldkit.vocabulary import Agency, IncidentKind, Status
from tui._model import SEVERITY_NAMES, STATUS_LABELS, BoardModel


@dataclass(frozen=True)
class Field:
    """One input of a form."""

    name: str
    """Key of the value in the result."""
    label: str
    """What the crew reads."""
    options: Sequence[tuple[str, Any]] = ()
    """(label, value) pairs: a Select; empty: a text Input."""
    value: Any = None
    """Initial value."""
    required: bool = False
    placeholder: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class FormScreen(ModalScreen[dict[str, Any] | None]):
    """A titled form; dismisses with the values or None."""

    BINDINGS = [  # noqa: RUF012 (textual's class-level convention)
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Save"),
    ]

    def __init__(self, title: str, fields: Sequence[Field], submit: str = "Save") -> None:
        super().__init__(classes="form")
        self.form_title = title
        self.fields = list(fields)
        self.submit_label = submit

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="form-box") as box:
            box.border_title = self.form_title
            for spec in self.fields:
                yield Label(spec.label + (" *" if spec.required else ""), classes="form-label")
                if spec.options:
                    yield Select(list(spec.options), id=f"f-{spec.name}",
                                 value=spec.value if spec.value is not None else Select.NULL,
                                 allow_blank=not spec.required or spec.value is None,
                                 compact=True)
                else:
                    yield Input(value=str(spec.value or ""), placeholder=spec.placeholder,
                                id=f"f-{spec.name}", compact=True)
            yield Label("", id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button(f"{self.submit_label} (ctrl+s)", variant="primary",
                             id="form-submit", compact=True)
                yield Button("Cancel (Esc)", id="form-cancel", compact=True)

    def on_mount(self) -> None:
        # The first field, not the scrolling box, takes the keys: type at once.
        self.query_one(f"#f-{self.fields[0].name}").focus()

    def values(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for spec in self.fields:
            widget = self.query_one(f"#f-{spec.name}")
            if isinstance(widget, Select):
                value = widget.value
                if value is not Select.NULL and value is not None and value != "":
                    result[spec.name] = value
            elif isinstance(widget, Input) and widget.value.strip():
                result[spec.name] = widget.value.strip()
        return result

    def action_submit(self) -> None:
        values = self.values()
        missing = [s.label for s in self.fields if s.required and s.name not in values]
        if missing:
            self.query_one("#form-error", Label).update(f"needed: {', '.join(missing)}")
            return
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#form-submit")
    def _pressed_submit(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#form-cancel")
    def _pressed_cancel(self) -> None:
        self.action_cancel()


# --- the forms of the console ---------------------------------------------------------

_KINDS = [(k.value.replace("_", " "), k.value) for k in IncidentKind]
_SEVERITIES = [(f"{n} {name}", n) for n, name in SEVERITY_NAMES.items()]
_AGENCIES = [(a.value.replace("_", " "), a.value) for a in Agency]


def create_form() -> FormScreen:
    return FormScreen("New incident", [
        Field("title", "Title", required=True, placeholder="what is happening, where"),
        Field("kind", "Kind", _KINDS, required=True),
        Field("severity", "Severity", _SEVERITIES, value=3, required=True),
        Field("zone", "Zone", placeholder="optional, e.g. gate-4"),
        Field("description", "Description", placeholder="optional"),
    ], submit="Create")


def status_form(incident: Incident) -> FormScreen:
    options = [(STATUS_LABELS[s], s.value) for s in Status if s is not incident.status]
    return FormScreen(f"Status of: {incident.title}", [
        Field("status", f"New status (now {STATUS_LABELS[incident.status]})", options,
              required=True),
        Field("reason", "Reason", placeholder="optional, shown in the timeline"),
    ], submit="Set")


def assign_form(incident: Incident) -> FormScreen:
    return FormScreen(f"Assign a unit to: {incident.title}", [
        Field("agency", "Agency", _AGENCIES, required=True),
        Field("unit", "Unit", required=True, placeholder="e.g. M-12"),
    ], submit="Assign")


def note_form(incident: Incident) -> FormScreen:
    return FormScreen(f"Note on: {incident.title}", [
        Field("text", "Note", required=True, placeholder="what the crew saw or did"),
    ], submit="Add")


def resolve_form(incident: Incident) -> FormScreen:
    """One Select per conflicted field, offering each candidate value (and who wrote it)."""
    fields = []
    for conflict in incident.conflicts:
        options = [(f"{_short(c.value)}  (by {c.by})", _key(c.value))
                   for c in conflict.candidates]
        fields.append(Field(conflict.field, f"{conflict.field}: keep which value?",
                            options, value=_key(conflict.winner), required=True))
    return FormScreen(f"Resolve conflicts: {incident.title}", fields, submit="Resolve")


def filter_form(model: BoardModel) -> FormScreen:
    current = model.filter
    choices = model.choices()
    statuses = [("open (not resolved/closed)", "open"),
                *((STATUS_LABELS[s], s.value) for s in Status)]
    return FormScreen("Filter the board", [
        Field("status", "Status", statuses, value=current.status or None),
        Field("min_severity", "Severity at least", _SEVERITIES, value=current.min_severity or None),
        Field("kind", "Kind", [(k, k) for k in choices["kind"]] or _KINDS,
              value=current.kind or None),
        Field("agency", "Agency", [(a, a) for a in choices["agency"]] or _AGENCIES,
              value=current.agency or None),
        Field("zone", "Zone", [(z, z) for z in choices["zone"]], value=current.zone or None)
        if choices["zone"] else Field("zone", "Zone", value=current.zone),
        Field("text", "Text in title or id", value=current.text),
    ], submit="Apply")


def _key(value: Any) -> str:
    """Select values must be hashable: candidates are compared by their JSON."""
    import json

    return json.dumps(value, sort_keys=True)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else _key(value)
    return text if len(text) <= 40 else text[:39] + "…"
