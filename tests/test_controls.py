"""Control characters (issue 14 item 5): refused at intake from every source, tab and
newline kept where text allows; what reaches a terminal is escaped."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from fieldkit.cli import main
from fieldkit.config import load_config
from fieldkit.errors import InvalidActionError
from fieldkit.events import seal
from fieldkit.hq.calls import parse_call
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.render import incident_detail, incident_table, terminal_safe
from fieldkit.store import Store

A, B = NodeIdentity.generate("T01"), NodeIdentity.generate("T02")
FIELDS = {"kind": "medical", "severity": 3, "location": {"zone": "gate3"}}


@pytest.mark.parametrize(("action", "message"), [
    (lambda log, i: log.create(title="gate\x003", **FIELDS),
     "title: control character U+0000 at position 4 is not allowed"),
    (lambda log, i: log.create(title="ok", description="a\x07", **FIELDS),
     "description: control character U+0007 at position 1"),
    (lambda log, i: log.update(i, {"title": "\x1b[2Jwiped"}), "control character U+001B"),
    (lambda log, i: log.add_note(i, "tab\tand\nnewline are fine, \r is not"),
     "control character U+000D at position 26 is not allowed (only tab and newline are)"),
    (lambda log, i: log.set_status(i, "acknowledged", "\x9b31m"), "control character U+009B"),
    (lambda log, i: log.assign(i, "medical", "M\x7f1"), "control character U+007F"),
])
def test_local_actions_refuse_control_characters(make_log, action, message):
    log = make_log(A)
    incident = log.create(title="Gate 3", **FIELDS)
    before = log.stats()
    with pytest.raises(InvalidActionError, match=re.escape(message)):
        action(log, incident.id)
    assert log.stats() == before


def test_tab_and_newline_stay_where_text_allows(make_log):
    log = make_log(A)
    incident = log.create(title="Gate 3", description="line 1\nline 2", **FIELDS)
    noted = log.add_note(incident.id, "col\tcol\nnext")
    assert (noted.description, noted.notes[0].text) == ("line 1\nline 2", "col\tcol\nnext")


def test_foreign_events_with_control_characters_are_refused(make_log):
    """A signed event from a trusted origin is still refused: intake checks every source."""
    mine = make_log(A, B)
    event = seal(B, seq=1, hlc=1, incident="01890000-0000-7000-8000-000000000001",
                 kind="create", payload={"title": "evil\x1b]0;owned\x07", **FIELDS},
                 prev="0" * 64)
    report = mine.apply([event])
    assert [r.reason for r in report.rejected] == ["invalid_payload"]
    assert "control character U+001B" in report.rejected[0].detail
    assert mine.stats()["events"] == 0


def test_calls_refuse_control_characters():
    call = {"location": {"zone": "gate3"}, "kind": "medical", "callback": "+966500000000",
            "description": "fine", "title": "x\x00"}
    with pytest.raises(InvalidActionError, match=re.escape("title: control character U+0000")):
        parse_call(call)


def _raw_incident(log: IncidentLog, title: str) -> str:
    """An incident as an older fieldkit (without the intake check) could have stored it."""
    incident = log.create(title="placeholder", **FIELDS)
    with log.store.write() as conn:
        log._append(conn, [(incident.id, "set", {"field": "title", "value": title,
                                                 "base": [f"{A.name}:1"]})])
    log.rebuild()
    return incident.id


def test_terminal_output_is_escaped(node_dir):
    config = load_config(node_dir)
    with Store(config.path(config.node.database)) as store:
        identity = NodeIdentity.load(config.node.name, config.path(config.node.key_file))
        log = IncidentLog(store, identity, Keyring.from_names(identity, {}))
        incident_id = _raw_incident(log, "\x1b[31mred\x1b[0m alert\x07")
        shown = log.get(incident_id)
    assert shown.title.startswith("\x1b[31m")
    for text in (incident_table([shown]), incident_detail(shown),
                 CliRunner().invoke(main, ["incident", "list", "--dir", str(node_dir)]).output):
        assert not {"\x1b", "\x07"} & set(text)
        assert "\\x1b[31mred\\x1b[0m alert\\x07" in text
    assert terminal_safe("a\tb\nc") == "a\tb\nc"
