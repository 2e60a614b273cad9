"""Real processes: `fieldkit node run` with a drone link, `fieldkit drone sim` flying at
it over UDP on 127.0.0.1, then `fieldkit drone status` reading what the node stored."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

import pytest
from nodeproc import node_process
from waiting import wait_until

FIELDKIT = [sys.executable, "-m", "fieldkit.cli"]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.mark.slow
def test_node_process_ingests_the_simulator_process(node_dir):
    config = node_dir / "fieldkit.toml"
    config.write_text(config.read_text() + (
        '\n[drones]\nsample_s = 0.2\n[[drones.links]]\nname = "pilots"\nport = 0\n'
        '[[drones.vehicles]]\nname = "D1"\nlink = "pilots"\nsystem_id = 1\n'))
    with node_process(node_dir) as node:
        found = node.find(r"reading udp_listen 127\.0\.0\.1:(\d+)")
        assert found, "the node never said where its drone link listens"
        port, url = found.group(1), node.url
        sim = subprocess.run([*FIELDKIT, "drone", "sim", "--port", port, "--duration", "2",
                              "--report", "1", "--autopilot", "px4"],
                             capture_output=True, text=True, timeout=60, check=False)
        assert sim.returncode == 0, sim.stderr
        assert sim.stdout.splitlines()[-1].startswith("landed: ")
        def positioned() -> list | None:  # the node samples every 0.2 s
            vehicles = get_json(f"{url}/api/drones")["vehicles"]
            return vehicles if vehicles and vehicles[0]["lat"] is not None else None

        vehicles = wait_until(positioned, 15, "drone state with a position on /api/drones")
        assert (vehicles[0]["name"], vehicles[0]["autopilot"], vehicles[0]["mode"]) == (
            "D1", "px4", "MISSION")
        status = subprocess.run([*FIELDKIT, "drone", "status", "--dir", str(node_dir)],
                                capture_output=True, text=True, timeout=60, check=False)
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith("D1           px4       MISSION    ARMED    21.42")
        node.proc.send_signal(signal.SIGTERM)
        assert node.proc.wait(timeout=30) == 0
        assert "drone link pilots: running -> stopped" in node.output()
