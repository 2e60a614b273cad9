"""The console's Sync panel shows the fleet picture when the node serves it."""

from __future__ import annotations

from hqhelp import pump_until
from rich.console import Console

from tui import FieldkitApp, NodeClient
from tui._panels import InfoPanel, fleet_table


def _text(renderable) -> str:
    console = Console(width=100, record=True)
    console.print(renderable)
    return console.export_text()


def test_fleet_table():
    text = _text(fleet_table({"nodes": [
        {"node": "HQ", "self": True, "last_sync_s_ago": None, "last_event_s_ago": 2.0,
         "open_incidents": 1, "cameras": {}, "drones": {}},
        {"node": "T01", "self": False, "last_sync_s_ago": 14.0, "last_event_s_ago": 10.0,
         "open_incidents": 3, "cameras": {"gate3": {"down": False}, "gate4": {"down": True}},
         "drones": {"D1": {"down": True}}},
    ]}))
    assert "HQ (this node)" in text
    assert "14 s ago" in text
    assert "2 (1 down)" in text


async def test_the_sync_panel_shows_the_fleet(node):
    async with NodeClient(node.url) as client:
        await client.create({"title": "x", "kind": "fire", "severity": 3, "source": "crew"})
    app = FieldkitApp(NodeClient(node.url))
    async with app.run_test(size=(100, 30)) as pilot:
        await pump_until(pilot, lambda: app.panel_polls > 0 and app.fleet is not None,
                       "panels polled")
        await pilot.press("5")
        await pilot.pause()
        panel = app.query_one("#panel-sync", InfoPanel)
        shown = [_text(r) for r in panel.body().renderables]
        assert any("fleet" in t and "T01 (this node)" in t for t in shown)
        assert "events held per origin node" in shown[-1]
