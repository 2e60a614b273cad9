"""The drone views mirror the drone part's dataclasses field for field (the wire contract
lives in fieldkit/views, which must not import drone/): a field added on one side only
fails here."""

from __future__ import annotations

from dataclasses import fields
from typing import get_args

from drone.receiver import LinkStats
from drone.signing import SigningStats
from drone.state import FIELD_GROUPS, TelemetrySample
from fieldkit.views.parts import DroneView, LinkView, SigningView


def test_drone_view_has_every_telemetry_field():
    assert set(DroneView.model_fields) == {"name", "stale"} | {
        f.name for f in fields(TelemetrySample)}


def test_drone_view_names_every_field_group_that_can_go_stale():
    (group,) = get_args(DroneView.model_fields["stale"].annotation)
    assert set(get_args(group)) == {"heartbeat", *FIELD_GROUPS}
    assert {f"{g}_age_s" for g in FIELD_GROUPS} <= set(DroneView.model_fields)


def test_link_views_have_every_counter():
    assert set(LinkView.model_fields) == {f.name for f in fields(LinkStats)}
    assert set(SigningView.model_fields) == {f.name for f in fields(SigningStats)}
