"""Joining the fleet from a USB stick prepared by a real HQ node, or from HQ's address."""

from __future__ import annotations

import json

import pytest

from fieldkit.config import load_config
from fieldkit.identity import NodeIdentity
from sync.config import SyncSection
from sync.join import JoinError, join_fleet
from tests.hardware.conftest import make_stick, run


def test_join_from_a_usb_stick(tmp_path, node_dir, hq):
    hq_dir, hq_key = hq
    stick = make_stick(tmp_path, hq_dir, "http://127.0.0.1:8470")
    result = join_fleet(node_dir, stick=stick)
    assert (result.hq, result.config_changed, result.roster_version) == ("HQ", True, 1)
    config = load_config(node_dir)
    assert config.trust.nodes == {"HQ": hq_key}
    assert (config.section(SyncSection).hq, config.section(SyncSection).hq_url) == ("HQ", "http://127.0.0.1:8470")
    assert "# Unique name in the fleet" in (node_dir / "fieldkit.toml").read_text()  # comments
    shown = run("sync", "roster", "show", "--dir", str(node_dir))
    assert shown.startswith("roster version 1, issued by HQ")
    assert "T02" in shown
    truck_key = NodeIdentity.load("T01", node_dir / "node.key").public_key_b64
    assert (stick / "fieldkit/enrol/T01.pub").read_text() == f"T01 {truck_key}\n"

    again = join_fleet(node_dir, stick=stick)  # idempotent
    assert not again.config_changed
    assert load_config(node_dir) == config


def test_cli_join_prints_the_line_for_hq(tmp_path, node_dir, hq):
    stick = make_stick(tmp_path, hq[0])
    out = run("sync", "join", "--usb", str(stick), "--dir", str(node_dir))
    truck_key = NodeIdentity.load("T01", node_dir / "node.key").public_key_b64
    assert out.splitlines() == [
        "joined the fleet of HQ HQ",
        "  roster version 1 adopted",
        f"  enrolment request left on the stick: {stick}/fieldkit/enrol/T01.pub",
        f"on HQ: fieldkit sync roster add T01 {truck_key}",
    ]


def test_tampered_roster_changes_nothing(tmp_path, node_dir, hq):
    stick = make_stick(tmp_path, hq[0])
    path = stick / "fieldkit" / "roster.json"
    doc = json.loads(path.read_text())
    doc["nodes"]["EVIL"] = doc["nodes"]["T02"]
    path.write_text(json.dumps(doc))
    before = (node_dir / "fieldkit.toml").read_text()
    with pytest.raises(JoinError, match=r"roster.json: signature does not verify with HQ's key"):
        join_fleet(node_dir, stick=stick)
    assert (node_dir / "fieldkit.toml").read_text() == before


def test_pinned_key_must_match(tmp_path, node_dir, hq):
    stick = make_stick(tmp_path, hq[0])
    other = NodeIdentity.generate("X").public_key_b64
    with pytest.raises(JoinError, match="the stick's HQ key for HQ does not match --hq-key"):
        join_fleet(node_dir, stick=stick, hq_key=other)


def test_join_from_hq_url(node_dir, hq):
    result = join_fleet(node_dir, hq_url="http://127.0.0.1:9", hq_name="HQ", hq_key=hq[1])
    assert (result.roster_version, result.enrolment) == (None, None)
    config = load_config(node_dir)
    sync = config.section(SyncSection)
    assert (sync.hq, sync.hq_url, config.trust.nodes) == (
        "HQ", "http://127.0.0.1:9", {"HQ": hq[1]})
    with pytest.raises(JoinError, match="already joined to HQ HQ, not HQ2"):
        join_fleet(node_dir, hq_name="HQ2", hq_key=hq[1])


def test_url_alone_is_not_a_trust_anchor(node_dir):
    with pytest.raises(JoinError, match="give a USB stick with the roster, or --hq-name and "
                                        "--hq-key"):
        join_fleet(node_dir, hq_url="http://127.0.0.1:9")
    with pytest.raises(JoinError, match="HQ key: "):
        join_fleet(node_dir, hq_name="HQ", hq_key="not-a-key")
