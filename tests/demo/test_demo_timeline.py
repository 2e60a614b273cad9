"""The demo's timeline: one readable line per thing that happened, not one per event."""

from __future__ import annotations

import time

from demo.timeline import Timeline, _zone_line
from fieldkit.views.parts import ZoneView


def _event(origin: str, kind: str, payload: dict, incident: str = "01a2-0001") -> dict:
    return {"origin": origin, "seq": 1, "hlc": 0, "incident": incident, "kind": kind,
            "payload": payload}


def test_each_kind_of_event_is_told_in_words():
    lines: list[str] = []
    story = Timeline("T01", time.monotonic(), lines.append)
    story.tell(_event("T01", "create", {
        "title": "ramp over capacity", "kind": "crowd_density", "severity": 4,
        "source": "analytics", "location": {"camera": "ramp-cam", "zone": "ramp"},
        "description": "7 people, capacity 4"}))
    story.tell(_event("T02", "create", {
        "title": "Pilgrim collapsed", "kind": "medical", "severity": 3, "source": "crew"},
        incident="01a2-0002"))
    story.tell(_event("T01", "status", {"status": "on_scene", "base": [], "reason": ""}))
    story.tell(_event("T01", "assign", {"agency": "medical", "unit": "M-12"}))
    story.tell(_event("T01", "note", {"text": "relief gate opened"}))
    story.tell(_event("T01", "status", {"status": "resolved", "reason": "condition cleared"},
                      incident="01a2-0002"))
    text = "\n".join(lines)
    assert " 0:00  T01  NEW           ramp over capacity  [analytics ramp-cam, severity 4]" \
        in text
    assert "\n" + " " * 26 + "7 people, capacity 4\n" in text
    assert "T02  NEW           Pilgrim collapsed  [crew, severity 3, by sync from T02]" in text
    assert "T01  on scene      ramp over capacity" in text
    assert "T01  assigned      medical M-12 to ramp over capacity" in text
    assert 'T01  note          ramp over capacity: "relief gate opened"' in text
    assert "T01  resolved      Pilgrim collapsed  (condition cleared)" in text


def test_a_camera_retitling_its_incident_is_told_at_most_every_so_often():
    lines: list[str] = []
    story = Timeline("T01", time.monotonic(), lines.append)
    story.tell(_event("T01", "create", {"title": "Person down", "kind": "person_down",
                                        "severity": 4, "source": "analytics"}))
    for title in ("2 people down", "Person down", "2 people down"):
        story.tell(_event("T01", "set", {"field": "title", "value": title, "base": []}))
    story.tell(_event("T01", "attach", {"blob": "ab" * 32, "mime": "image/jpeg"}))
    assert len(lines) == 1  # the create; the flapping title stays off the story
    story.tell(_event("T01", "status", {"status": "acknowledged", "reason": ""}))
    assert lines[-1].endswith("acknowledged  2 people down")  # under its latest title


def test_a_zone_is_told_with_the_figures_and_band_the_analytics_give():
    zone = ZoneView(zone="ramp", end_ms=0, window_s=5.0, count=9.4, peak=11, density=0.31,
                    band=(0.2, 0.45), level="B", method="fused", counts=[9.4])
    assert _zone_line("ramp-cam", zone) == \
        "ramp-cam ramp: 0.3 persons/m2 (0.2-0.5, fused), level B, 9 people"
    unsure = zone.model_copy(update={"band": None, "method": None,
                                     "uncertain": "people overlap beyond what the detector "
                                                  "separates"})
    assert _zone_line("ramp-cam", unsure) == (
        "ramp-cam ramp: 0.3 persons/m2, level B, 9 people; uncertain: people overlap "
        "beyond what the detector separates")
