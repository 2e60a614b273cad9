"""Response-time reports: figures checked on a log built with a hand-moved clock; the HTML
holds tables and well-formed inline SVG; the command prints a summary and writes the page."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from hqhelp import FixedClock
from lxml import etree

from fieldkit.cli import main
from fieldkit.errors import InvalidActionError
from fieldkit.hq.report import build_report, fmt_s, parse_since, report_html, summary_text
from fieldkit.identity import NodeIdentity

T01 = NodeIdentity.generate("T01")


def _run(log, clock, kind, steps, agencies=()):
    """Create an incident, then for (seconds later, status) move it along."""
    incident = log.create(title=f"{kind} case", kind=kind, severity=3)
    for agency in agencies:
        log.assign(incident.id, agency, f"{agency[:3].upper()}-1")
    for seconds, status in steps:
        clock.advance(seconds)
        log.set_status(incident.id, status)
    clock.advance(1)
    return incident


@pytest.fixture
def report_log(make_log):
    clock = FixedClock()
    log = make_log(T01, clock=clock)
    _run(log, clock, "fire", [(5, "acknowledged")])  # before the report's window
    clock.advance(100)
    since = clock.now
    _run(log, clock, "medical", [(30, "acknowledged"), (90, "dispatched"),
                                 (120, "on_scene"), (600, "resolved")], ["police", "medical"])
    _run(log, clock, "medical", [(60, "acknowledged"), (60, "dispatched"),
                                 (60, "on_scene"), (300, "resolved")], ["medical"])
    _run(log, clock, "fire", [(10, "acknowledged")])
    # Straight to dispatched: no acknowledge step, but the total still counts.
    _run(log, clock, "fire", [(20, "dispatched"), (40, "on_scene")], ["fire"])
    return log, since, clock.now + 1


def test_the_figures_per_agency_and_kind(report_log):
    log, since, until = report_log
    report = build_report(log.incidents(), since, until)
    assert (report.incidents, report.open) == (4, 2)
    agencies = {g.name: g for g in report.by_agency}
    assert sorted(agencies) == ["fire", "medical", "police", "unassigned"]
    medical = agencies["medical"]
    assert medical.incidents == 2
    assert medical.steps["acknowledge"].median_s == 45
    assert medical.steps["acknowledge"].mean_s == 45
    assert medical.steps["dispatch"].median_s == 75
    assert medical.steps["reach scene"].median_s == 90
    assert medical.steps["resolve"].median_s == 450
    to_scene = medical.steps["to scene"]
    assert (to_scene.n, to_scene.median_s, to_scene.p90_s) == (2, 210, 240)
    assert medical.steps["to resolved"].median_s == 660
    police = agencies["police"]
    assert police.steps["to scene"].median_s == 240
    assert police.steps["to scene"].n == 1
    assert agencies["unassigned"].steps["acknowledge"].median_s == 10
    assert agencies["unassigned"].steps["to scene"] is None
    fire = agencies["fire"]
    assert fire.steps["acknowledge"] is None
    assert fire.steps["dispatch"] is None
    assert fire.steps["to scene"].median_s == 60
    kinds = {g.name: g for g in report.by_kind}
    assert sorted(kinds) == ["fire", "medical"]
    assert kinds["fire"].incidents == 2
    assert kinds["fire"].open == 2
    assert kinds["medical"].steps["to scene"].median_s == 210
    assert report.overall.steps["to scene"].n == 3
    assert report.overall.steps["to scene"].median_s == 180


def test_the_summary_and_the_html(report_log):
    log, since, until = report_log
    report = build_report(log.incidents(), since, until)
    text = summary_text(report)
    assert "4 incident(s), 2 open" in text
    assert "overall: median 3m00s to scene (n=3), 11m00s to resolved (n=2)" in text
    assert re.search(r"^medical\s+2\s+45s\s+1m15s\s+1m30s\s+7m30s\s+3m30s\s+11m00s$", text,
                     re.M)
    page = report_html(report, "HQ")
    doc = etree.HTML(page)
    assert len(doc.findall(".//table")) == 2
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) == 2
    for svg in svgs:  # each chart is well-formed SVG with one bar per step per group
        root = etree.fromstring(svg)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    bars = etree.fromstring(svgs[0]).findall("{http://www.w3.org/2000/svg}rect")
    titles = [b.findtext("{http://www.w3.org/2000/svg}title") for b in bars]
    assert "medical: acknowledge median 45s" in titles
    assert "3m30s" in page


def test_since_accepts_durations_and_times():
    now = 1_790_000_000_000
    assert parse_since("30m", now) == now - 1_800_000
    assert parse_since("2d", now) == now - 172_800_000
    assert parse_since("2026-11-26T08:00:00Z", now) == 1_795_680_000_000
    assert parse_since("2026-11-26", now) == 1_795_651_200_000
    with pytest.raises(InvalidActionError, match="--since 'yesterday' is neither"):
        parse_since("yesterday", now)
    assert [fmt_s(s) for s in (None, 4.6, 130, 3900)] == ["-", "5s", "2m10s", "1h05m"]


def test_report_command(node_dir, tmp_path):
    runner = CliRunner()
    env = {"FIELDKIT_DIR": str(node_dir)}
    added = runner.invoke(main, ["incident", "add", "--title", "x", "--kind", "fire",
                                 "--severity", "3"], env=env)
    assert added.exit_code == 0, added.output
    runner.invoke(main, ["incident", "ack", added.output.strip()[-8:]], env=env)
    out = tmp_path / "report.html"
    result = runner.invoke(main, ["report", "--since", "1h", "-o", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "1 incident(s), 1 open" in result.output
    assert f"wrote {out}" in result.output
    assert "<svg" in out.read_text()
    bad = runner.invoke(main, ["report", "--since", "soon"], env=env)
    assert bad.exit_code == 1
    assert "Error: --since 'soon' is neither" in bad.output
