"""Response-time reports: per agency and per incident kind, how long each step took
(created -> acknowledged -> dispatched -> on_scene -> resolved), as a plain-text summary
and an HTML page with tables and inline SVG charts (no plotting library).

Times come from each incident's ``status_times`` (the first time it reached a status,
from the hybrid logical clock of that event). An incident counts for every agency
assigned to it, or for "unassigned"; a step counts only when both its ends happened.
"""

from __future__ import annotations

import html
import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fieldkit.errors import InvalidActionError
from fieldkit.export import iso
from fieldkit.fold import Incident

#: (label, from status, to status); "created" is the incident's creation.
STEPS: tuple[tuple[str, str, str], ...] = (
    ("acknowledge", "created", "acknowledged"),
    ("dispatch", "acknowledged", "dispatched"),
    ("reach scene", "dispatched", "on_scene"),
    ("resolve", "on_scene", "resolved"),
)
TOTALS: tuple[tuple[str, str, str], ...] = (
    ("to scene", "created", "on_scene"),
    ("to resolved", "created", "resolved"),
)
COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2")
UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class Stat:
    """Durations of one step in one group, seconds."""

    n: int
    median_s: float
    mean_s: float
    p90_s: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat | None:
        if not values:
            return None
        ordered = sorted(values)
        p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]  # nearest rank
        return cls(len(ordered), statistics.median(ordered), statistics.fmean(ordered), p90)


@dataclass
class Group:
    """One agency or kind: incident count and a :class:`Stat` per step (None: no data)."""

    name: str
    incidents: int = 0
    open: int = 0
    steps: dict[str, Stat | None] = field(default_factory=dict)


@dataclass
class Report:
    since_ms: int
    until_ms: int
    incidents: int
    open: int
    overall: Group
    by_agency: list[Group]
    by_kind: list[Group]


def parse_since(text: str, now_ms: int) -> int:
    """``30m``, ``12h``, ``7d`` (ago) or an ISO 8601 date/time (UTC unless it says)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd])", text.strip())
    if m:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        return now_ms - int(float(m.group(1)) * unit * 1000)
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidActionError(
            f"--since {text!r} is neither a duration (30m, 12h, 7d) nor an ISO 8601 time "
            "(2026-11-26 or 2026-11-26T08:00:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _times(incident: Incident) -> dict[str, int]:
    return {"created": incident.created_at, **incident.status_times}


def durations(incident: Incident) -> dict[str, float]:
    """Seconds per step (and totals) this incident has both ends of."""
    times = _times(incident)
    out = {}
    for label, start, end in STEPS + TOTALS:
        if start in times and end in times and times[end] >= times[start]:
            out[label] = (times[end] - times[start]) / 1000
    return out


def _group(name: str, incidents: Sequence[Incident]) -> Group:
    per_step: dict[str, list[float]] = {label: [] for label, _, _ in STEPS + TOTALS}
    for incident in incidents:
        for label, seconds in durations(incident).items():
            per_step[label].append(seconds)
    return Group(name, len(incidents), sum(1 for i in incidents if i.status.is_open),
                 {label: Stat.of(values) for label, values in per_step.items()})


def build_report(incidents: Iterable[Incident], since_ms: int, until_ms: int) -> Report:
    """The report on incidents created in [since_ms, until_ms)."""
    chosen = [i for i in incidents if since_ms <= i.created_at < until_ms]
    agencies: dict[str, list[Incident]] = {}
    kinds: dict[str, list[Incident]] = {}
    for incident in chosen:
        names = sorted({a.agency for a in incident.assigned}) or [UNASSIGNED]
        for name in names:
            agencies.setdefault(name, []).append(incident)
        kinds.setdefault(incident.kind, []).append(incident)
    return Report(
        since_ms, until_ms, len(chosen), sum(1 for i in chosen if i.status.is_open),
        _group("all", chosen),
        [_group(n, agencies[n]) for n in sorted(agencies)],
        [_group(n, kinds[n]) for n in sorted(kinds)])


def fmt_s(seconds: float | None) -> str:
    """``2m10s``, ``45s``, ``1h05m``; ``-`` for no data."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _median(group: Group, label: str) -> float | None:
    stat = group.steps.get(label)
    return None if stat is None else stat.median_s


_COLUMNS = [label for label, _, _ in STEPS + TOTALS]


def summary_text(report: Report) -> str:
    """The terminal summary: medians per agency and per kind."""
    lines = [f"response times, incidents created {iso(report.since_ms)} .. "
             f"{iso(report.until_ms)}: {report.incidents} incident(s), {report.open} open",
             f"overall: median {fmt_s(_median(report.overall, 'to scene'))} to scene "
             f"(n={_n(report.overall, 'to scene')}), "
             f"{fmt_s(_median(report.overall, 'to resolved'))} to resolved "
             f"(n={_n(report.overall, 'to resolved')})"]
    for title, groups in (("agency", report.by_agency), ("kind", report.by_kind)):
        lines.append("")
        lines.append(f"{title:<18}{'n':>4}" + "".join(f"{c:>13}" for c in _COLUMNS)
                     + "   (medians)")
        for g in groups:
            lines.append(f"{g.name:<18}{g.incidents:>4}"
                         + "".join(f"{fmt_s(_median(g, c)):>13}" for c in _COLUMNS))
    return "\n".join(lines)


def _n(group: Group, label: str) -> int:
    stat = group.steps.get(label)
    return 0 if stat is None else stat.n


# --- HTML ------------------------------------------------------------------------------


def _table(title: str, groups: Sequence[Group]) -> str:
    head = "".join(f"<th>{html.escape(c)}<br><small>median / p90 (n)</small></th>"
                   for c in _COLUMNS)
    rows = []
    for g in groups:
        cells = []
        for c in _COLUMNS:
            stat = g.steps.get(c)
            cells.append("<td>-</td>" if stat is None else
                         f"<td>{fmt_s(stat.median_s)} / {fmt_s(stat.p90_s)} ({stat.n})</td>")
        rows.append(f"<tr><th>{html.escape(g.name)}</th><td>{g.incidents}</td>"
                    f"<td>{g.open}</td>{''.join(cells)}</tr>")
    return (f"<h2>By {html.escape(title)}</h2>\n<table>\n<tr><th>{html.escape(title)}</th>"
            f"<th>incidents</th><th>open</th>{head}</tr>\n" + "\n".join(rows) + "\n</table>")


def chart_svg(title: str, groups: Sequence[Group]) -> str:
    """A stacked horizontal bar per group: the median of each step, end to end."""
    label_w, bar_w, row_h, top = 150, 520, 26, 40
    height = top + row_h * max(1, len(groups)) + 40
    longest = max([sum(_median(g, s[0]) or 0 for s in STEPS) for g in groups] + [1.0])
    scale = bar_w / longest
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 90}" '
             f'height="{height}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="0" y="16" font-size="14" font-weight="bold">'
             f'{html.escape(title)}</text>']
    for row, g in enumerate(groups):
        y = top + row * row_h
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{html.escape(g.name)}</text>')
        x = float(label_w)
        for (label, _, _), colour in zip(STEPS, COLOURS, strict=True):
            value = _median(g, label)
            if not value:
                continue
            w = value * scale
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" '
                         f'fill="{colour}"><title>{html.escape(g.name)}: {label} median '
                         f'{fmt_s(value)}</title></rect>')
            x += w
        total = sum(_median(g, s[0]) or 0 for s in STEPS)
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 15}" font-size="11">{fmt_s(total)}'
                     '</text>')
    legend_y = top + row_h * max(1, len(groups)) + 14
    for k, ((label, _, _), colour) in enumerate(zip(STEPS, COLOURS, strict=True)):
        lx = label_w + k * 130
        parts.append(f'<rect x="{lx}" y="{legend_y}" width="12" height="12" '
                     f'fill="{colour}"/><text x="{lx + 16}" y="{legend_y + 11}" '
                     f'font-size="11">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def report_html(report: Report, node: str) -> str:
    title = f"Response times, {node}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #bbb;padding:4px 8px;text-align:right}}th:first-child{{text-align:left}}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Incidents created {iso(report.since_ms)} to {iso(report.until_ms)}: {report.incidents}
({report.open} open). Steps: created &rarr; acknowledged &rarr; dispatched &rarr; on scene
&rarr; resolved; each incident counts for every agency assigned to it.</p>
<pre>{html.escape(summary_text(report))}</pre>
{chart_svg("Median time per step, by agency", report.by_agency)}
{_table("agency", report.by_agency)}
{chart_svg("Median time per step, by kind", report.by_kind)}
{_table("kind", report.by_kind)}
</body></html>
"""
