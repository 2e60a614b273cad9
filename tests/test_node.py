"""`fieldkit node run` as a real process: serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request

import pytest


@pytest.mark.slow
def test_node_process_serves_and_stops_on_sigterm(node_dir):
    config = node_dir / "fieldkit.toml"
    config.write_text(config.read_text().replace("port = 8470", "port = 0"))
    proc = subprocess.Popen([sys.executable, "-m", "fieldkit.cli", "node", "run", "--dir",
                             str(node_dir)], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            found = re.search(r"API listening on (http://127\.0\.0\.1:\d+)", line)
            if found:
                url = found.group(1)
                break
        else:
            pytest.fail("the node never said where it listens")
        with urllib.request.urlopen(f"{url}/api/health", timeout=10) as response:
            health = json.load(response)
        assert (health["node"], health["status"]) == ("T01", "ok")
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(timeout=30) == 0
        assert "running -> stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
