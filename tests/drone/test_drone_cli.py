"""`fieldkit drone ...` and `fieldkit bench mavlink` through click's runner."""

from __future__ import annotations

import json
import socket
import stat
import time

from click.testing import CliRunner

from drone.record import record
from drone.rules import Action, AlertAction
from drone.signing import SigningKey
from drone.state import TelemetrySample
from fieldkit.cli import main
from fieldkit.config import load_config
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.store import Store


def test_drone_help_lists_commands():
    result = CliRunner().invoke(main, ["drone", "--help"])
    assert result.exit_code == 0, result.output
    assert "sim" in result.output
    assert "status" in result.output


def test_sim_sends_real_packets_and_reports():
    gcs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    gcs.bind(("127.0.0.1", 0))
    gcs.settimeout(10)
    port = gcs.getsockname()[1]
    try:
        result = CliRunner().invoke(main, ["drone", "sim", "--port", str(port), "--drones", "2",
                                           "--duration", "1", "--report", "0.5"])
        assert result.exit_code == 0, result.output
        first = result.output.splitlines()[0]
        assert first == (f"flying 2 ardupilot drone(s), system ids 1..2, unsigned, to udp "
                         f"127.0.0.1:{port}; Ctrl-C to land")
        assert "drone 2:" in result.output
        assert result.output.splitlines()[-1].startswith("landed: ")
        data, _ = gcs.recvfrom(65535)
        assert data[0] == 0xFD
    finally:
        gcs.close()


def test_key_makes_a_private_key_file_the_link_and_sim_accept(tmp_path):
    path = tmp_path / "mavlink.key"
    result = CliRunner().invoke(main, ["drone", "key", str(path)])
    assert result.exit_code == 0, result.output
    assert f"wrote {path} (mode 0600)" in result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    passphrase = path.read_text().strip()
    assert passphrase not in result.output  # the secret stays in the file
    assert SigningKey.from_file(path).secret == SigningKey.from_text(passphrase).secret
    again = CliRunner().invoke(main, ["drone", "key", str(path)])
    assert again.exit_code == 1
    assert "already exists; refusing to overwrite a secret" in again.output
    assert path.read_text().strip() == passphrase


def test_main_help_names_every_drone_command():
    result = CliRunner().invoke(main, ["--help"])
    line = next(ln for ln in result.output.splitlines() if ln.strip().startswith("drone "))
    for command in ("sim", "key", "status", "publish"):
        assert command in line


def test_sim_with_a_missing_key_file_fails_cleanly(tmp_path):
    result = CliRunner().invoke(main, ["drone", "sim", "--signing-key-file",
                                       str(tmp_path / "none"), "--duration", "1"])
    assert result.exit_code == 1
    assert f"Error: cannot read signing key file {tmp_path / 'none'}" in result.output


def test_status_shows_latest_samples_and_open_alerts(node_dir):
    runner = CliRunner()
    result = runner.invoke(main, ["drone", "status", "--dir", str(node_dir)])
    assert result.exit_code == 0, result.output
    assert result.output == "no drone telemetry stored yet\n"
    config = load_config(node_dir)
    identity = NodeIdentity.load(config.node.name, config.path(config.node.key_file))
    with Store(config.path(config.node.database)) as store:
        log = IncidentLog(store, identity, Keyring.from_names(identity, {}))
        sample = TelemetrySample(vehicle="D1", link="L1", system_id=1, at=time.time(),
                                 autopilot="px4", mode="MISSION", armed=True, lat=21.5,
                                 lon=39.5, alt_rel_m=60, battery_pct=14, gps_fix=3,
                                 loss_pct=0.0, position_age_s=1860.0)
        raise_ = AlertAction(Action.RAISE, "D1", "battery", 4, "Drone D1: battery critical",
                             "Battery at 14%.", {"lat": 21.5, "lon": 39.5})
        outcome = record(log, [sample], [raise_])
    (_, incident), = outcome.incidents
    result = runner.invoke(main, ["drone", "status", "--dir", str(node_dir)])
    assert result.exit_code == 0, result.output
    line, alert = result.output.splitlines()
    # Sampled for a heartbeat just now, its position is half an hour old: it says so.
    assert line.startswith("D1           px4       MISSION    ARMED    21.500000, 39.500000 "
                           "(31 min old) alt 60 m  batt 14%  gps 3  loss 0%")
    assert alert == f"open alert: D1 battery -> incident {incident}"


def test_bench_mavlink_prints_figures_and_ratio():
    result = CliRunner().invoke(main, ["bench", "mavlink", "--messages", "2000", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output[result.output.index("{"):])
    assert figures["messages"] == 2000
    assert figures["target_overhead"] == 0.25
    for run in ("unsigned", "signed"):
        assert set(figures[run]) == {"bare_msgs_per_s", "fieldkit_msgs_per_s",
                                     "decode_only_msgs_per_s", "ratio", "overhead",
                                     "within_target"}
        assert figures[run]["ratio"] > 0
