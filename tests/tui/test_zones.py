"""The Zones panel: its cells from the node's views, and the console against real nodes
with and without the sensors part (readings pushed over HTTP: no broker needed)."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
from textual.widgets import DataTable, Static
from tuihelp import FIXED_FLEET, FIXED_SENSORS, text_of, wait_for

from fieldkit.node import Node
from sensors.config import SensorsSection
from tui import FieldkitApp, LinkState, NodeClient
from tui._zones import ZONE_COLUMNS, data_cell, fill, fleet_rows, health_cell, zone_cells

TOKEN = "push-token-0123456789"


def _cells(table: DataTable, key: str) -> dict[str, str]:
    """The row's cells by column; empty while the row is not there."""
    if key not in [k.value for k in table.rows]:
        return {}
    return {str(col.value): str(cell) for col, cell in zip(
        table.columns, table.get_row(key), strict=True)}


def test_a_zone_no_fresh_source_backs_is_marked_stale():
    by_name = {z.zone: z for z in FIXED_SENSORS.zones}
    assert str(data_cell(by_name["north-gate"])) == "STALE 1 min ago"
    assert str(data_cell(by_name["concourse"])) == "1.2 s ago"
    never = by_name["north-gate"].model_copy(update={"age_s": None})
    assert str(data_cell(never)) == "nothing heard"
    cells = dict(zip(ZONE_COLUMNS, map(str, zone_cells(by_name["concourse"])), strict=True))
    assert cells["density"] == "3.90 /m² (3.40-4.40)"
    assert cells["by"] == "sensors: entries-exits, anchored"
    assert cells["flow in/out"] == "2.4/1.1 p/s (0.18 p/m/s out)"
    assert "None" not in " ".join(
        str(c) for z in FIXED_SENSORS.zones for c in zone_cells(z))


def test_sensor_health_names_the_fault_and_refusals():
    by_id = {s.id: s for s in FIXED_SENSORS.sensors}
    assert str(health_cell(by_id["ng-in"])) == "silent 95 s"
    assert str(health_cell(by_id["ng-count"])) == "never heard"
    assert str(health_cell(by_id["cc-out"])) == "ok  2 refused: value -3 is below 0"
    waiting = by_id["ng-count"].model_copy(update={"fault": None})
    assert str(health_cell(waiting)) == "waiting"


def test_a_peers_zones_say_how_long_ago_the_peer_was_heard():
    rows = dict(fleet_rows(FIXED_FLEET, skip_self=True))
    assert list(rows) == ["T02\x1feast-ramp", "T02\x1fwest-ramp"]  # T01's own shown above
    *_, state, since, heard, incident = map(str, rows["T02\x1feast-ramp"])
    assert (state, since, heard) == ("blocked", "20 min ago", "15 min ago STALE?")
    assert incident == "000000000011"
    assert len(fleet_rows(FIXED_FLEET, skip_self=False)) == 3  # no sensors here: T01's too


async def test_rows_update_in_place_and_rebuild_when_they_change():
    app = FieldkitApp(None)
    async with app.run_test() as pilot:
        table: DataTable = DataTable()
        await app.screen.mount(table)
        table.add_column("a", key="a")
        fill(table, [("x", ("1",)), ("y", ("2",))])
        table.move_cursor(row=1)
        fill(table, [("x", ("3",)), ("y", ("4",))])
        await pilot.pause()
        assert (table.cursor_row, table.get_cell("x", "a")) == (1, "3")
        fill(table, [("y", ("5",))])
        assert [k.value for k in table.rows] == ["y"]


def _section() -> dict:
    # The concourse's sensors stay fresh for the whole test however slow the machine;
    # plaza-count, never heard, turns faulty after 1.5 s.
    sensor = {"expected_interval_s": 600}
    return {
        "enabled": True, "push_token": TOKEN, "dwell_s": 0.0, "mqtt": {"enabled": False},
        "zones": [{"name": "concourse", "area_m2": 200, "exit_width_m": 4},
                  {"name": "plaza", "area_m2": 1000, "exit_width_m": 20}],
        "sensors": [
            {"id": "gate-in", "kind": "turnstile_in", "zone": "concourse", **sensor},
            {"id": "gate-out", "kind": "turnstile_out", "zone": "concourse", **sensor},
            {"id": "concourse-count", "kind": "people_count", "zone": "concourse", **sensor},
            {"id": "plaza-count", "kind": "people_count", "zone": "plaza",
             "expected_interval_s": 0.5}]}


async def _push(url: str, readings: list[dict]) -> None:
    async with aiohttp.ClientSession() as s, s.post(
            f"{url}/sensors/readings", json=readings,
            headers={"Authorization": f"Bearer {TOKEN}"}) as r:
        assert r.status == 201, await r.text()


async def test_a_sensor_node_shows_zone_states_and_sensor_health(config):
    sensors = SensorsSection.model_validate(_section())
    node = Node(config.model_copy(update={"sensors": sensors}))
    await node.start()
    try:
        now = int(time.time() * 1000)
        await _push(node.url, [{"sensor": "concourse-count", "value": 700, "at": now - 1000},
                               {"sensor": "gate-in", "value": 1000, "at": now - 1000},
                               {"sensor": "gate-out", "value": 500, "at": now - 1000}])
        app = FieldkitApp(NodeClient(node.url))
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.state is LinkState.LIVE, "live")
            await pilot.press("6")
            zones = app.query_one("#zones-table", DataTable)
            sensors_table = app.query_one("#sensors-table", DataTable)

            async def poll_until(condition: Callable[[], bool], what: str) -> None:
                """Poll the panels (not waiting for the 5 s timer), one poll at a time."""
                for _ in range(100):
                    polls = app.panel_polls
                    app.poll_panels()
                    await wait_for(pilot, lambda polls=polls: app.panel_polls > polls,
                                   "a panel poll")
                    if condition():
                        return
                raise AssertionError(f"never: {what}")

            # 700 people on 200 m²: 3.5 /m², congested (no dwell in this config).
            await poll_until(lambda: _cells(zones, "concourse")["state"] == "congested",
                             "concourse congested")
            row = _cells(zones, "concourse")
            assert row["density"].startswith("3.50 /m² (")
            assert row["by"] == "sensors: entries-exits, anchored"  # the count set the level
            assert row["data"].endswith(" s ago")
            assert _cells(sensors_table, "gate-in")["health"] == "ok"
            # plaza-count never reports: past 3 intervals it is named, and plaza is unknown.
            await poll_until(lambda: _cells(sensors_table, "plaza-count")["health"]
                             == "never heard", "plaza-count faulty")
            assert _cells(zones, "plaza")["data"] == "nothing heard"
            head = text_of(app.query_one("#zones-head", Static).content)
            assert head.startswith("City sensors  broker disabled")
    finally:
        await node.stop()


async def test_a_node_without_city_sensors_says_so(node):
    app = FieldkitApp(NodeClient(node.url))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.panel_polls > 0, "panels polled")
        await pilot.press("6")
        await pilot.pause()
        head = text_of(app.query_one("#zones-head", Static).content)
        assert head.startswith("No city sensors on this node.")
        assert not app.query_one("#zones-table", DataTable).display
