"""`fieldkit node run` as a real process: serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import urllib.request

import pytest
from nodeproc import node_process


@pytest.mark.slow
def test_node_process_serves_and_stops_on_sigterm(node_dir):
    with node_process(node_dir) as node:
        with urllib.request.urlopen(f"{node.url}/api/health", timeout=10) as response:
            health = json.load(response)
        assert (health["node"], health["status"]) == ("T01", "ok")
        node.proc.send_signal(signal.SIGTERM)
        assert node.proc.wait(timeout=30) == 0
        assert "running -> stopped" in node.output()
