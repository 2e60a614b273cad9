"""hardware/provision.sh into a throwaway root: a copy of this checkout's venv, a real HQ's
USB stick, no network, nothing touched outside the root."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fieldkit.config import load_config
from fieldkit.hardware.config import HardwareSection
from sync.config import SyncSection
from tests.hardware.conftest import REPO, make_stick, run

SCRIPT = REPO / "hardware" / "provision.sh"
VENV = Path(sys.prefix)  # the venv running these tests: fieldkit is installed in it


def provision(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=300, check=False, stdin=subprocess.DEVNULL)


def test_usage_errors_change_nothing(tmp_path):
    done = provision("--root", str(tmp_path), "--venv-from", str(VENV))
    assert (done.returncode, done.stderr) == (1, "provision: --name is required\n")
    done = provision("--root", str(tmp_path), "--name", "T07", "--venv-from", str(VENV),
                     "--hq-url", "http://127.0.0.1:9")
    assert done.returncode == 1
    assert done.stderr == ("provision: --hq-url needs --hq-name and --hq-key (a URL alone is "
                           "not a trust anchor)\n")
    done = provision("--root", str(tmp_path), "--name", "bad name!", "--wheels", "x")
    assert done.returncode == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="tests are not running in a venv")
def test_provision_into_a_throwaway_root(tmp_path, hq):
    root = tmp_path / "root"
    root.mkdir()
    stick = make_stick(tmp_path, hq[0], "http://127.0.0.1:8470")
    host_unit = Path("/etc/systemd/system/fieldkit-node.service")
    host_had_unit = host_unit.exists()

    profile = REPO / "hardware/profiles/ref-x86.toml"
    done = provision("--root", str(root), "--name", "T07", "--venv-from", str(VENV),
                     "--usb", str(stick), "--profile", str(profile))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "opt/fieldkit/profile.toml").read_text() == profile.read_text()
    assert done.stdout.splitlines()[-1] == (
        f"provision: truck T07 ready in {root}: node /var/lib/fieldkit, fieldkit "
        "/opt/fieldkit/venv; power up to start")

    # fieldkit runs from the root, by its own interpreter
    fieldkit = root / "opt/fieldkit/venv/bin/fieldkit"
    assert fieldkit.read_text().splitlines()[0].startswith(f"#!{root}/opt/fieldkit/venv/bin/python")
    version = subprocess.run([str(fieldkit), "--version"], capture_output=True, text=True,
                             check=True)
    assert "fieldkit" in version.stdout
    assert os.readlink(root / "usr/local/bin/fieldkit") == "/opt/fieldkit/venv/bin/fieldkit"

    # the node: key, token, config with hardware on and HQ joined, roster adopted
    node = root / "var/lib/fieldkit"
    assert stat.S_IMODE((node / "node.key").stat().st_mode) == 0o600
    config = load_config(node)
    assert (config.node.name, config.node.role) == ("T07", "truck")
    hardware, sync = config.section(HardwareSection), config.section(SyncSection)
    assert (hardware.gps, hardware.health) == (True, True)
    assert (sync.hq, sync.hq_url) == ("HQ", "http://127.0.0.1:8470")
    assert config.trust.nodes == {"HQ": hq[1]}
    assert run("sync", "roster", "show", "--dir", str(node)).startswith(
        "roster version 1, issued by HQ")
    assert (stick / "fieldkit/enrol/T07.pub").read_text().startswith("T07 ")

    # boot: units enabled, udev rules, users, gpsd and chrony settings
    units = root / "etc/systemd/system"
    for unit in ("fieldkit-node.service", "fieldkit-console.service"):
        wanted = units / "multi-user.target.wants" / unit
        assert os.readlink(wanted) == f"/etc/systemd/system/{unit}"
        text = (units / unit).read_text()
        exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
        program = exec_start.removeprefix("ExecStart=").split()[0]
        assert os.access(root / program.lstrip("/"), os.X_OK), exec_start
    assert "ExecStart=/opt/fieldkit/venv/bin/fieldkit tui --dir /var/lib/fieldkit" in \
        (units / "fieldkit-console.service").read_text()
    assert "TTYPath=/dev/tty1" in (units / "fieldkit-console.service").read_text()
    assert 'SYMLINK+="gps0"' in (root / "etc/udev/rules.d/70-fieldkit.rules").read_text()
    assert (root / "usr/lib/sysusers.d/fieldkit.conf").read_text().startswith("# The node's")
    assert 'DEVICES="/dev/gps0"' in (root / "etc/default/gpsd").read_text()
    assert (root / "etc/chrony/conf.d/fieldkit-gps.conf").is_file()
    assert host_unit.exists() == host_had_unit  # nothing installed on this machine

    # again: idempotent, same key
    key = (node / "node.key").read_bytes()
    again = provision("--root", str(root), "--name", "T07", "--venv-from", str(VENV),
                      "--usb", str(stick))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "fieldkit already installed" in again.stdout
    assert "already initialised" in again.stdout
    assert "joined the fleet of HQ HQ (config already had it)" in again.stdout
    assert (node / "node.key").read_bytes() == key
    assert (node / "fieldkit.toml").read_text().count("[hardware]") == 1
