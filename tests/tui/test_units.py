"""The console's pure parts: filters and sorts, SSE parsing, previews, panels, map, CLI."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
from click.testing import CliRunner
from tuihelp import FIXED_PARTS, NOW_MS, fixed_incidents, text_of

import tui
from fieldkit.cli import main
from tui._client import SseParser
from tui._map import Marker, drone_markers, plot
from tui._model import BoardModel, Filter, FilterError, age_text
from tui._panels import (
    ago,
    amount,
    camera_line,
    drones_body,
    drones_table,
    seconds_text,
    sync_body,
    zone_line,
)
from tui._preview import PreviewError, decode_png, make_png, render_preview
from tui.cli import node_target


def test_public_names_are_exactly_all():
    public = {n for n in dir(tui) if not n.startswith("_")} - {"cli", "logging"}
    assert sorted(public) == sorted(tui.__all__)


def test_filters():
    model = BoardModel()
    model.replace_all(fixed_incidents())
    titles = lambda: [i.title for i in model.view()]  # noqa: E731
    model.filter = Filter(status="open")
    assert len(titles()) == 4
    model.filter = Filter(min_severity=4)
    assert titles() == ["Person down near pillar 7", "Density rising at gate 4"]
    model.filter = Filter(agency="police")
    assert titles() == ["Unattended bag at exit 2", "Lost child reported at tent 12"]
    model.filter = Filter(zone="gate-4", kind="crowd_density")
    assert titles() == ["Density rising at gate 4"]
    model.filter = Filter(text="BAG")
    assert titles() == ["Unattended bag at exit 2"]
    assert model.choices()["zone"] == ["gate-4", "pillar-7", "sector-9", "tent-12"]


def test_bad_filter_and_sort_are_refused():
    with pytest.raises(FilterError, match=r"status filter must be one of open, new, .*; got 'x'"):
        Filter(status="x")
    with pytest.raises(FilterError, match="sort must be one of priority"):
        BoardModel().set_sort("colour")


def test_sorts_are_total_and_reversible():
    model = BoardModel()
    model.replace_all(fixed_incidents())
    model.set_sort("age")
    newest_first = [i.id for i in model.view()]
    model.set_sort("age", reverse=True)
    assert [i.id for i in model.view()] == newest_first[::-1]
    model.set_sort("priority")
    assert [i.severity for i in model.view()] == [5, 4, 3, 2, 3]  # resolved one last


def test_age_text():
    assert [age_text(NOW_MS - s * 1000, NOW_MS) for s in (5, 125, 7200, 200_000)] == [
        "5s", "2m", "2h", "2d"]


def test_sse_parser():
    parser = SseParser()
    lines = [b": keep-alive\n", b"\n", b"id: 7\n", b"event: note\n",
             b'data: {"origin": "T01", "seq": 3, "hlc": 1, "incident": "abc", "kind": "note", '
             b'"payload": {"text": "x"}, "prev": "p", "hash": "h", "sig": "s"}\n', b"\n",
             b"id: 8\n", b'data: {"incident": "def"}\n', b"\n"]  # not an event: skipped
    events = [e for e in map(parser.feed, lines) if e is not None]
    assert [(e.cursor, e.kind, e.incident) for e in events] == [(7, "note", "abc")]
    assert parser.feed(b"id: x\n") is None
    assert parser.feed(b"data: {}\n") is None
    assert parser.feed(b"\n") is None  # malformed id: skipped, not fatal


def test_png_preview_round_trip():
    image = decode_png(make_png(8, 6))
    assert (image.width, image.height) == (8, 6)
    assert image.pixel(0, 0) == (0, 0, 96)
    assert image.pixel(7, 5) == (255, 255, 96)
    text = render_preview(make_png(40, 20), "image/png", max_width=20, max_height=5)
    assert text.plain.splitlines() == ["▀" * 20] * 5


def test_preview_errors_are_readable():
    with pytest.raises(PreviewError, match="not a PNG file"):
        decode_png(b"GIF89a")
    with pytest.raises(PreviewError, match="PNG data is corrupt"):
        decode_png(make_png(4, 4).replace(b"IDAT", b"IDAT\x00\x01", 1)[:60] + b"\x00" * 8)


def test_panel_figures_carry_units_and_ages():
    assert [seconds_text(s) for s in (0.42, 12, 59.6, 240, 3900, 7200, 200_000)] == [
        "0.4 s", "12 s", "60 s", "4 min", "1 h 5 min", "2 h", "2 d"]
    assert (ago(12), ago(None), ago(-3)) == ("12 s ago", "never", "0.0 s ago")
    assert (amount(81.0, "%"), amount(4.25, "m/s", 1), amount(None, "m")) == (
        "81 %", "4.2 m/s", "-")


def test_camera_and_zone_lines_say_rates_counts_density_band_and_age():
    cameras = FIXED_PARTS.cameras.root
    ramp = cameras["ramp-cam"]
    assert camera_line("ramp-cam", ramp, NOW_MS).plain == (
        "ramp-cam  mast  streaming  5.0 fps in, 2.0 fps analysed  frame 0.4 s ago")
    assert zone_line(ramp.zones[0], NOW_MS).plain == (
        "  ramp: 15.2 people (peak 18)  0.51 /m² (0.42-0.60)  level C  5.0 s window 3.0 s ago"
        "  by fused")
    down = camera_line("gate-cam", cameras["gate-cam"], NOW_MS).plain
    assert "reconnecting  - in, - analysed  frame 1 min ago" in down
    assert "connection refused" in down
    assert "37 people in view" in camera_line("D1", cameras["D1"], NOW_MS).plain


def test_drone_and_sync_panels_never_show_none_or_epoch_seconds():
    drones = text_of(drones_body(FIXED_PARTS, NOW_MS))
    assert "21.42302,39.87351 ±2 m" in drones
    assert "81 % 15.9 V" in drones
    assert "1.0 s ago" in drones  # last heard: the heartbeat 0.4 s before the sample
    late = FIXED_PARTS.drones.vehicles[0].model_copy(update={"heartbeat_age_s": 12.0,
                                                             "loss_pct": 30.0})
    late_parts = replace(FIXED_PARTS, drones=FIXED_PARTS.drones.model_copy(
        update={"vehicles": [late]}))
    assert "13 s ago no heartbeat for 12 s 30 % lost" in text_of(drones_body(late_parts, NOW_MS))
    assert "as of 2.0 s ago" in drones
    sync = text_of(sync_body(FIXED_PARTS, NOW_MS))
    assert "4.0 s ago" in sync
    assert "2 ev" in sync
    assert "never" in sync
    assert "3 failed: no answer within 10 s" in sync
    for text in (drones, sync):
        assert "None" not in text
        assert "1764" not in text  # no epoch times


def test_stale_drone_fields_are_dimmed_with_their_age_never_shown_as_current():
    back = FIXED_PARTS.drones.vehicles[0].model_copy(update={
        "heartbeat_age_s": 0.3, "position_age_s": 1860.0, "battery_age_s": 1860.0,
        "velocity_age_s": 0.5, "stale": ["position", "battery"]})
    table = drones_table(FIXED_PARTS.drones.model_copy(update={"vehicles": [back]}), NOW_MS)
    cells = {c.header: c._cells[0] for c in table.columns}
    assert cells["position"].plain == "21.42302,39.87351 ±2 m 31 min old"
    assert cells["battery"].plain == "81 % 15.9 V 31 min old"
    for stale in ("position", "alt", "battery"):
        assert cells[stale].style == "dim italic", stale
    for current in ("mode", "speed"):
        assert "dim" not in str(cells[current].style), current
    assert cells["seen"].plain == "0.9 s ago"  # heard (the heartbeat) 0.3 s before the sample
    markers = drone_markers(FIXED_PARTS.drones.model_copy(update={"vehicles": [back]}))
    assert [(m.symbol, m.label) for m in markers] == [("d", "drone, old position")]
    assert [m.symbol for m in drone_markers(FIXED_PARTS.drones)] == ["D"]


def test_map_places_incidents_north_up():
    incidents = fixed_incidents()
    result = plot(incidents, [Marker(21.4205, 39.8760, "D", "drone")], 40, 12)
    assert (result.placed, result.unplaced) == (4, 1)
    chars = {ch for ch, _ in result.cells.values()}
    assert {"5", "4", "3", "2", "D"} <= chars
    north = min(result.cells, key=lambda xy: xy[1])
    assert result.cells[north][0] == "5"  # pillar 7 is the northernmost


def test_tui_command_help_and_registration():
    runner = CliRunner()
    result = runner.invoke(main, ["tui", "--help"])
    assert result.exit_code == 0
    assert "--token-file" in result.output
    result = runner.invoke(main, ["bench", "tui", "--help"])
    assert result.exit_code == 0
    assert "--incidents" in result.output


def test_tui_without_a_node_dir_says_how_to_make_one(tmp_path):
    result = CliRunner().invoke(main, ["tui", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no config at" in result.output
    assert "fieldkit init" in result.output


def test_node_target(node_dir, tmp_path):
    assert node_target(node_dir, None, None) == ("http://127.0.0.1:8470", None)
    token = tmp_path / "token"
    token.write_text("s3cret-token-0123456789\n")
    assert node_target(node_dir, "http://10.0.0.2:8470", token) == (
        "http://10.0.0.2:8470", "s3cret-token-0123456789")


def test_importing_fieldkit_cli_does_not_import_the_console_or_textual():
    # `tui` itself loads: its part declaration (tui.part) adds `fieldkit tui`.
    code = ("import sys, fieldkit.cli; "
            "sys.exit(('tui._app' in sys.modules) or ('textual' in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_jpeg_preview_through_opencv_when_installed():
    cv2 = pytest.importorskip("cv2")
    numpy = pytest.importorskip("numpy")
    frame = numpy.zeros((24, 40, 3), dtype=numpy.uint8)
    frame[:, :, 2] = 255  # BGR: red
    ok, jpeg = cv2.imencode(".jpg", frame)
    assert ok
    text = render_preview(jpeg.tobytes(), "image/jpeg", max_width=10, max_height=3)
    assert text.plain.splitlines() == ["▀" * 10] * 3
    assert text.spans[0].style.color.triplet.red > 200


async def test_board_cells_draw_exactly_as_datatable_would():
    """BoardTable draws body cells itself (speed); every cell must match DataTable's own
    rendering, with and without the cursor, for plain, styled, fresh and age cells."""
    from textual.widgets import DataTable
    from tuihelp import FIXED_HEALTH

    from tui import FieldkitApp
    from tui._board import BoardTable

    def chars(lines):
        return [(ch, seg.style) for line in lines for seg in line for ch in seg.text]

    incidents = fixed_incidents()
    for size in ((80, 24), (160, 48)):
        app = FieldkitApp(None, incidents=incidents, health=FIXED_HEALTH,
                          now_ms=lambda: NOW_MS)
        app.model.fresh.add(incidents[0].id)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            table = app.table
            for row in range(table.row_count):
                for column, spec in enumerate(table.ordered_columns):
                    width = spec.get_render_width(table)
                    for cursor in (False, True):
                        ours = chars(BoardTable._render_cell(
                            table, row, column, table.rich_style, width, cursor))
                        table._cell_render_cache.clear()
                        theirs = chars(DataTable._render_cell(
                            table, row, column, table.rich_style, width, cursor))
                        table._cell_render_cache.clear()
                        assert ours == theirs, (size, row, column, cursor)


def test_timeline_lines_never_show_none():
    from fieldkit.views import EventView
    from tui._detail import describe_event

    def event(kind: str, payload: dict) -> EventView:
        return EventView(origin="T01", seq=2, hlc=1, incident="i", kind=kind, payload=payload,
                         prev="p", hash="h", sig="s")

    assert describe_event(event("set", {"field": "location", "value": None})) == \
        "cleared location"
    assert describe_event(event("set", {"field": "severity", "value": 5})) == "set severity = 5"
