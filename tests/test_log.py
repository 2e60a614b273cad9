"""The incident log: local actions, and foreign batches checked for authorship."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from fieldkit.errors import InvalidActionError, NotFoundError
from fieldkit.events import Event, seal
from fieldkit.identity import NodeIdentity
from fieldkit.log import IncidentLog

A, B, C = (NodeIdentity.generate(n) for n in ("T01", "T02", "HQ"))


def _crush(log: IncidentLog, **extra: object):
    fields = {"title": "Crush at gate 3", "kind": "crowd_density", "severity": 4,
              "location": {"lat": 21.4225, "lon": 39.8726, "accuracy_m": 5}}
    return log.create(**{**fields, **extra})


def _snapshot(log: IncidentLog) -> tuple:
    conn = log.store.conn
    return (conn.execute("SELECT origin, seq, hash FROM events ORDER BY arrival").fetchall(),
            conn.execute("SELECT id, state FROM incidents ORDER BY id").fetchall())


def _all_events(log: IncidentLog) -> list[Event]:
    return [e for _, e in log.feed(limit=100_000)]


def test_create_and_lifecycle_records_every_transition(make_log):
    log = make_log(A)
    incident = _crush(log)
    assert incident.status == "new"
    assert incident.reported_by == "T01"
    log.set_status(incident.id, "acknowledged")
    log.assign(incident.id, "medical", "M-12")
    log.set_status(incident.id, "dispatched")
    log.set_status(incident.id, "on_scene")
    log.add_note(incident.id, "two casualties, walking wounded")
    log.set_status(incident.id, "resolved")
    reopened = log.set_status(incident.id, "acknowledged", reason="crowd pressure back")
    assert [t.status for t in reopened.transitions] == [
        "new", "acknowledged", "dispatched", "on_scene", "resolved", "acknowledged"]
    assert reopened.transitions[-1].reason == "crowd pressure back"
    assert set(reopened.status_times) == {"new", "acknowledged", "dispatched", "on_scene",
                                          "resolved"}
    # status_times keeps the first time each status was reached (response-time reports).
    assert reopened.status_times["acknowledged"] == reopened.transitions[1].at
    assert [(a.agency, a.unit) for a in reopened.assigned] == [("medical", "M-12")]
    assert reopened.notes[0].text == "two casualties, walking wounded"
    assert reopened.events == 8


def test_a_board_read_again_parses_only_what_changed(make_log):
    """Consoles read the same board over and over: an unchanged incident comes back as
    the same (frozen) object, a changed one as its new state."""
    log = make_log(NodeIdentity.generate("T01"))
    quiet = log.create(title="quiet", kind="medical", severity=2)
    busy = log.create(title="busy", kind="medical", severity=3)
    first = {i.id: i for i in log.incidents(limit=50)}
    log.add_note(busy.id, "moving")
    again = {i.id: i for i in log.incidents(limit=50)}
    assert again[quiet.id] is first[quiet.id]
    assert again[busy.id] is not first[busy.id]
    assert [n.text for n in again[busy.id].notes] == ["moving"]
    assert first[busy.id].notes == []


def test_actions_are_chained_and_signed(make_log):
    log = make_log(A)
    incident = _crush(log)
    log.add_note(incident.id, "first")
    first, second = log.events_of(incident.id)
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev == first.hash
    assert second.compute_hash() == second.hash
    assert second.signature_valid(log.keyring.verify)


@pytest.mark.parametrize(("action", "message"), [
    (lambda log, i: log.set_status(i, "new"), "is already new"),
    (lambda log, i: log.set_status(i, "sleeping"), "status 'sleeping' is not one of"),
    (lambda log, i: log.update(i, {"severity": 9}),
     "severity: Input should be less than or equal to 5"),
    (lambda log, i: log.update(i, {"severity": "4"}), "severity: Input should be a valid integer"),
    (lambda log, i: log.update(i, {"colour": "red"}), "cannot set colour"),
    (lambda log, i: log.update(i, {"title": "Crush at gate 3"}), "nothing to change"),
    (lambda log, i: log.update(i, {"location": {"lat": 900, "lon": 0}}),
     "location: lat: Input should be less than or equal to 90"),
    (lambda log, i: log.update(i, {"location": {"lat": 21.0}}), "lat and lon go together"),
    (lambda log, i: log.assign(i, "army", "A-1"), "agency 'army' is not one of"),
    (lambda log, i: log.unassign(i, "police", "P-1"), "police unit 'P-1' is not assigned"),
    (lambda log, i: log.add_note(i, ""), "note payload: text: String should have at least 1"),
    (lambda log, i: log.link(i, "satellite", "S1"), "link target 'satellite' is not one of"),
])
def test_bad_actions_are_refused_and_change_nothing(make_log, action, message):
    log = make_log(A)
    incident = _crush(log)
    before = _snapshot(log)
    with pytest.raises(InvalidActionError, match=message):
        action(log, incident.id)
    assert _snapshot(log) == before


@pytest.mark.parametrize(("fields", "message"), [
    ({"title": ""}, "title: String should have at least 1 character"),
    ({"kind": "riot"}, "kind: Input should be 'crowd_density'"),
    ({"severity": 0}, "severity: Input should be greater than or equal to 1"),
    ({"source": "rumour"}, "source: Input should be 'crew'"),
    ({"location": {"zone": "A", "accuracy_m": 3}}, "accuracy_m needs lat/lon"),
    ({"location": {"zone": "A", "at_ms": 3}}, "at_ms needs lat/lon"),
    ({"location": {"lat": 1, "lon": 2, "at_ms": -1}}, "at_ms: Input should be greater than"),
])
def test_bad_create_is_refused(make_log, fields, message):
    log = make_log(A)
    with pytest.raises(InvalidActionError, match=message):
        _crush(log, **fields)
    assert log.stats()["events"] == 0


def test_unknown_incident(make_log):
    log = make_log(A)
    with pytest.raises(NotFoundError, match="no incident '0000"):
        log.add_note("00000000-0000-7000-8000-000000000000", "hello")
    with pytest.raises(NotFoundError, match="no incident 'abcd'"):
        log.resolve("abcd")


def test_resolve_prefix(make_log):
    log = make_log(A)
    incident = _crush(log)
    assert log.resolve(incident.id[:13]) == incident.id
    with pytest.raises(InvalidActionError, match="too short"):
        log.resolve("01")


def test_attachments_are_content_addressed(make_log):
    log = make_log(A)
    incident = _crush(log)
    log.attach(incident.id, b"\xff\xd8jpeg", "snap.jpg", "image/jpeg")
    again = log.attach(incident.id, b"\xff\xd8jpeg", "snap-copy.jpg", "image/jpeg")
    assert len(again.attachments) == 1  # the same content is one attachment
    mime, data = log.blob(again.attachments[0].blob)
    assert (mime, data) == ("image/jpeg", b"\xff\xd8jpeg")


# --- foreign batches -------------------------------------------------------------------


def _replicate(source: IncidentLog, target: IncidentLog):
    return target.apply(_all_events(source))


def test_apply_is_idempotent_and_converges(make_log):
    a, b = make_log(A, B), make_log(B, A)
    incident = _crush(a)
    a.set_status(incident.id, "acknowledged")
    first = _replicate(a, b)
    assert (first.applied, first.duplicates, first.rejected) == (2, 0, [])
    again = _replicate(a, b)
    assert (again.applied, again.duplicates) == (0, 2)
    assert b.get(incident.id) == a.get(incident.id)


def test_events_from_unknown_origin_are_rejected_and_counted(make_log):
    stranger, b = make_log(C), make_log(B, A)
    _crush(stranger)
    before = _snapshot(b)
    report = _replicate(stranger, b)
    assert report.applied == 0
    assert [r.reason for r in report.rejected] == ["unknown_origin"]
    assert "origin 'HQ' is not trusted" in report.rejected[0].detail
    assert _snapshot(b) == before
    assert b.rejections()[0] | {"last_at": 0} == {
        "origin": "HQ", "reason": "unknown_origin", "count": 1, "last_at": 0,
        "last_detail": report.rejected[0].detail}


def test_impersonation_is_rejected(make_log):
    """A node signing as T01 with its own key is caught by T01's real key."""
    impostor = NodeIdentity.generate("T01")
    fake, b = make_log(impostor), make_log(B, A)
    _crush(fake)
    report = _replicate(fake, b)
    assert [r.reason for r in report.rejected] == ["bad_signature"]
    assert b.stats()["events"] == 0


def _tampered(events: list[Event], index: int, **changes: object) -> list[Event]:
    events = list(events)
    events[index] = dataclasses.replace(events[index], **changes)
    return events


def _a_log_of(make_log, n: int) -> tuple[IncidentLog, list[Event]]:
    a = make_log(A, B)
    incident = _crush(a)
    for k in range(n - 1):
        a.add_note(incident.id, f"note {k}")
    return a, _all_events(a)


def test_relay_cannot_alter_an_event(make_log):
    _, events = _a_log_of(make_log, 5)
    b = make_log(B, A)
    altered = _tampered(events, 2, payload={"text": "all clear, stand down"})
    report = b.apply(altered)
    assert report.applied == 2  # the untouched prefix is authentic
    assert [r.reason for r in report.rejected] == ["bad_hash", "bad_hash", "bad_hash"]
    assert b.version_vector() == {"T01": 2}


def test_relay_cannot_alter_an_event_and_rehash_it(make_log):
    _, events = _a_log_of(make_log, 5)
    b = make_log(B, A)
    e = events[4]
    payload = {"text": "all clear, stand down"}
    forged = dataclasses.replace(e, payload=payload)
    forged = dataclasses.replace(forged, hash=forged.compute_hash())
    report = b.apply([*events[:4], forged])
    assert report.applied == 4
    assert [r.reason for r in report.rejected] == ["bad_signature"]


def test_relay_cannot_forge_a_new_event(make_log):
    _, events = _a_log_of(make_log, 3)
    b = make_log(B, A)
    relay = NodeIdentity.generate("T02")
    forged = seal(relay, seq=4, hlc=events[-1].hlc + 1, incident=events[0].incident,
                  kind="status", payload={"status": "closed", "base": [], "reason": ""},
                  prev=events[-1].hash)
    forged = dataclasses.replace(forged, origin="T01")
    forged = dataclasses.replace(forged, hash=forged.compute_hash())
    report = b.apply([*events, forged])
    assert report.applied == 3
    assert [r.reason for r in report.rejected] == ["bad_signature"]


def test_relay_cannot_drop_from_the_middle(make_log):
    _, events = _a_log_of(make_log, 5)
    b = make_log(B, A)
    report = b.apply(events[:2] + events[3:])
    assert report.applied == 2
    assert report.deferred == ["T01:4", "T01:5"]  # held back until T01:3 arrives
    report = b.apply(events)  # the full chain later: the gap fills
    assert (report.applied, report.duplicates) == (3, 2)


def test_relay_cannot_reorder(make_log):
    _, events = _a_log_of(make_log, 4)
    b = make_log(B, A)
    swapped = _tampered(_tampered(events, 1, seq=3), 2, seq=2)
    report = b.apply(swapped)
    assert report.applied == 1
    assert {r.reason for r in report.rejected} == {"broken_chain"}


def test_a_bad_signature_on_the_last_event_keeps_the_signed_prefix(make_log):
    _, events = _a_log_of(make_log, 6)
    b = make_log(B, A)
    bad_sig = base64.b64encode(bytes(64)).decode()
    report = b.apply(_tampered(events, 5, sig=bad_sig))
    assert report.applied == 5
    assert [r.event for r in report.rejected] == ["T01:6"]


def test_fork_is_detected(make_log):
    """The same origin and seq with different content: equivocation."""
    _a, events = _a_log_of(make_log, 2)
    b = make_log(B, A)
    b.apply(events)
    other = make_log(A, B)  # a second database with T01's key: a restored backup
    incident = _crush(other)
    other.add_note(incident.id, "diverged")
    report = b.apply(_all_events(other))
    assert {r.reason for r in report.rejected} == {"fork"}
    assert b.version_vector() == {"T01": 2}


def test_invalid_payload_from_a_trusted_origin_is_rejected(make_log):
    a = make_log(A, B)
    incident = _crush(a)
    bad = a.append([(incident.id, "note", {"text": "ok"})])[0]
    b = make_log(B, A)
    forged = seal(A, seq=3, hlc=bad.hlc + 1, incident=incident.id, kind="note",
                  payload={"text": ""}, prev=bad.hash)
    report = b.apply([*_all_events(a), forged])
    assert report.applied == 2
    assert report.rejected[0].reason == "invalid_payload"


def test_unknown_event_kinds_are_kept_and_relayed_but_not_folded(make_log):
    a = make_log(A, B)
    incident = _crush(a)
    e = seal(A, seq=2, hlc=_all_events(a)[0].hlc + 1, incident=incident.id,
             kind="future_kind", payload={"x": 1}, prev=_all_events(a)[0].hash)
    b = make_log(B, A)
    report = b.apply([*_all_events(a), e])
    assert report.applied == 2
    assert b.get(incident.id).events == 2
    assert b.get(incident.id).title == incident.title


@pytest.mark.parametrize(("wire", "message"), [
    ("not an object", "event must be a JSON object"),
    ({"origin": "T01"}, "event lacks"),
    ({"extra": 1}, "unknown field(s) extra"),
    ({"seq": 0}, "seq 0 is not a positive integer"),
    ({"seq": True}, "seq True is not a positive integer"),
    ({"hlc": -1}, "hlc -1 is not a non-negative integer"),
    ({"origin": "T 01"}, "origin 'T 01' is not a node name"),
    ({"incident": "x"}, "incident 'x' is not a UUID"),
    ({"kind": "DROP TABLE"}, "is not an event kind"),
    ({"payload": []}, "payload must be a JSON object"),
    ({"prev": "00"}, "prev is not 64 lowercase hex digits"),
    ({"sig": "!!"}, "sig is not a base64 Ed25519 signature"),
    ({"sig": None}, "sig is not a base64 Ed25519 signature"),
    ({"payload": {"text": "x" * 70_000}}, "the limit is 65536"),
    ({"payload": {"v": float("nan")}}, "payload is not plain JSON"),
])
def test_malformed_envelopes_are_rejected(make_log, wire, message):
    a = make_log(A, B)
    _crush(a)
    good = _all_events(a)[0].to_wire()
    if not isinstance(wire, dict):
        item = wire
    elif wire == {"origin": "T01"}:
        item = {k: v for k, v in good.items() if k not in ("seq", "hlc", "kind")}
    else:
        item = {**good, **wire}
    b = make_log(B, A)
    report = b.apply_wire([item])
    assert report.applied == 0
    assert report.rejected[0].reason == "malformed"
    assert message in report.rejected[0].detail
    assert b.stats()["events"] == 0
    assert b.rejections()[0]["reason"] == "malformed"


def test_rebuild_reproduces_the_view(make_log):
    a, _ = _a_log_of(make_log, 4)
    before = _snapshot(a)
    assert a.rebuild() == 1
    assert _snapshot(a) == before


def test_events_since_is_what_the_other_side_lacks(make_log):
    a, _events = _a_log_of(make_log, 5)
    assert [e.seq for e in a.events_since({"T01": 3})] == [4, 5]
    assert a.events_since({"T01": 5}) == []
    assert [e.seq for e in a.events_since({}, limit=2)] == [1, 2]


def test_acknowledge_only_moves_new_incidents(make_log):
    log = make_log(A)
    incident = _crush(log)
    log.acknowledge(incident.id)
    log.set_status(incident.id, "dispatched")
    with pytest.raises(InvalidActionError, match="is dispatched, not new"):
        log.acknowledge(incident.id)
    assert log.get(incident.id).status == "dispatched"
