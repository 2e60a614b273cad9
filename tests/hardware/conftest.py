"""Hardware test fixtures: gpsfake replaying a real NMEA capture on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from waiting import wait_until

from fieldkit.cli import main
from fieldkit.identity import NodeIdentity
from fieldkit.nodedir import init_node_dir

REPO = Path(__file__).resolve().parents[2]
NMEA = REPO.parent / "shared" / "data" / "nmea" / "quectel-l76k-nmea.log"
PROFILES = REPO / "hardware" / "profiles"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def gpsfake(tmp_path: Path) -> Iterator[int]:
    """gpsfake (and the gpsd it starts) replaying the Quectel capture in a loop on a free
    127.0.0.1 port; yields the port. gpsd is read-only (-b) and fed only gpsfake's pty,
    never a real device; the whole process group is killed afterwards."""
    if not NMEA.is_file():
        pytest.skip(f"{NMEA} is absent (shared/data not laid out here)")
    exe = shutil.which("gpsfake")
    if exe is None:
        pytest.skip("gpsfake is not installed: `make system-deps` installs gpsd-clients")
    port = free_port()
    errors = (tmp_path / "gpsfake.err").open("wb")
    proc = subprocess.Popen(
        [exe, "-q", "-P", str(port), "-n", str(NMEA)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
        start_new_session=True)
    try:
        wait_until(lambda: _accepts(port) or proc.poll() is not None, 20, "gpsd to listen")
        if proc.poll() is not None:
            err = (tmp_path / "gpsfake.err").read_text(errors="replace")
            pytest.fail(f"gpsfake exited {proc.returncode}: {err}")
        yield port
    finally:
        # The group: gpsfake and its gpsd. TERM lets gpsfake tidy up, KILL leaves nothing.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                continue
        errors.close()
        Path(f"/tmp/gpsfake-{proc.pid}.sock").unlink(missing_ok=True)


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def hq(tmp_path: Path) -> tuple[Path, str]:
    """An HQ node that has issued a roster (with truck T02 in it)."""
    path = tmp_path / "HQ"
    result = init_node_dir(path, role="hq", name="HQ")
    other = NodeIdentity.generate("T02")
    run("sync", "roster", "add", "T02", other.public_key_b64, "--dir", str(path))
    return path, result.public_key


def make_stick(tmp_path: Path, hq_dir: Path, url: str | None = None) -> Path:
    stick = tmp_path / "usb"
    (stick / "fieldkit").mkdir(parents=True)
    roster = run("sync", "roster", "show", "--json", "--dir", str(hq_dir))
    (stick / "fieldkit" / "roster.json").write_text(roster)
    if url:
        (stick / "fieldkit" / "hq_url").write_text(url + "\n")
    return stick
