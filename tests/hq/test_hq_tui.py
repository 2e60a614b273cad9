"""The console's Sync panel shows the fleet picture when the node serves it."""

from __future__ import annotations

from hqhelp import pump_until
from rich.console import Console

from fieldkit.views import FleetView
from tui import FieldkitApp, NodeClient
from tui._panels import InfoPanel, fleet_table


def _text(renderable) -> str:
    console = Console(width=100, record=True)
    console.print(renderable)
    return console.export_text()


def _node(name: str, **fields) -> dict:
    return {"node": name, "self": False, "last_sync_s_ago": None, "last_sync_error": None,
            "last_event_s_ago": None, "events": 0, "open_incidents": 0, "top_incidents": [],
            "cameras": {}, "drones": {}, **fields}


def test_fleet_table():
    fleet = FleetView.model_validate({"node": "HQ", "live": {"cameras": {}, "drones": []},
                                      "nodes": [
        _node("HQ", self=True, last_event_s_ago=2.0, open_incidents=1),
        _node("T01", last_sync_s_ago=14.0, last_event_s_ago=10.0, open_incidents=3,
              cameras={"gate3": {"last_seen_s_ago": 5.0},
                       "gate4": {"last_seen_s_ago": None, "down": True}},
              drones={"D1": {"last_seen_s_ago": None, "down": True}}),
    ]})
    text = _text(fleet_table(fleet))
    assert "HQ (this node)" in text
    assert "14 s ago" in text
    assert "2 (1 down)" in text
    assert "never" in text  # HQ's own last sync: none, not "None"


async def test_the_sync_panel_shows_the_fleet(node):
    async with NodeClient(node.url) as client:
        await client.create({"title": "x", "kind": "fire", "severity": 3, "source": "crew"})
    app = FieldkitApp(NodeClient(node.url))
    async with app.run_test(size=(100, 30)) as pilot:
        await pump_until(pilot, lambda: app.panel_polls > 0 and app.parts is not None
                         and app.parts.fleet is not None, "panels polled")
        await pilot.press("5")
        await pilot.pause()
        shown = _text(app.query_one("#panel-sync", InfoPanel).content)
        assert "fleet" in shown
        assert "T01 (this node)" in shown
        assert "events held per origin node" in shown
