"""Snapshots of the main screens at 80x24 and 160x48, from fixed incidents and a fixed
clock (no node: the app is fed Incident objects and the node's views)."""

from __future__ import annotations

import pytest
from tuihelp import FIXED_HEALTH, FIXED_PARTS, HQ_PARTS, NOW_MS, ZONES_PARTS, fixed_incidents

from tui import FieldkitApp

SIZES = [(80, 24), (160, 48)]


def _app(high_contrast: bool = False) -> FieldkitApp:
    return FieldkitApp(None, incidents=fixed_incidents(), health=FIXED_HEALTH,
                       parts=FIXED_PARTS, now_ms=lambda: NOW_MS, high_contrast=high_contrast)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_board(snap_compare, size):
    assert snap_compare(_app(), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_detail(snap_compare, size):
    # The third row by priority: the acknowledged one with a conflict and units.
    assert snap_compare(_app(), press=["down", "down", "down", "enter"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_map(snap_compare, size):
    assert snap_compare(_app(), press=["2"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
@pytest.mark.parametrize("tab", ["3", "4", "5"], ids=["cameras", "drones", "sync"])
def test_panels(snap_compare, tab, size):
    assert snap_compare(_app(), press=[tab], terminal_size=size)


def test_cameras_not_available(snap_compare):
    app = FieldkitApp(None, incidents=fixed_incidents(), health=FIXED_HEALTH,
                      now_ms=lambda: NOW_MS)
    assert snap_compare(app, press=["3"], terminal_size=(80, 24))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_zones(snap_compare, size):
    app = FieldkitApp(None, incidents=fixed_incidents(), health=FIXED_HEALTH,
                      parts=ZONES_PARTS, now_ms=lambda: NOW_MS)
    assert snap_compare(app, press=["6"], terminal_size=size)


def test_zones_without_city_sensors(snap_compare):
    """HQ (no sensors part): the fleet's zones, from its nodes' zone incidents."""
    app = FieldkitApp(None, incidents=fixed_incidents(), health=FIXED_HEALTH,
                      parts=HQ_PARTS, now_ms=lambda: NOW_MS)
    assert snap_compare(app, press=["6"], terminal_size=(80, 24))


def test_board_high_contrast(snap_compare):
    assert snap_compare(_app(high_contrast=True), terminal_size=(80, 24))
