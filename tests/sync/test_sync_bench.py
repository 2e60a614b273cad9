"""The sync benchmark's parts that are not timings: sizes and the fleet simulation."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sync.bench import _wire, _write_events, simulate


def test_wire_is_at_most_half_the_json(tmp_path):
    figures = _wire(_write_events(tmp_path, 500))
    assert figures["events"] == 500
    assert figures["ratio"] <= 0.5
    assert figures["ratio"] < figures["gzip_ratio"]


def test_simulation_relaying_beats_push_only():
    result = simulate(trucks=20, trials=30, seed=5)
    assert result["sync_hq"]["median"] <= result["baseline_hq"]["median"]
    assert result["sync_hq"]["worst"] <= result["baseline_hq"]["worst"]
    assert simulate(trucks=20, trials=30, seed=5) == result  # deterministic per seed


@pytest.mark.slow
def test_bench_sync_command_prints_every_part(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fieldkit.cli", "bench", "sync", "--events", "2000",
         "--trucks", "10", "--schedules", "10", "--samples", "2", "--runs", "1",
         "--json"],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["a_wire"]["ratio"] <= 0.5
    assert figures["b_throughput"]["events"] == 2000  # every event replicated
    assert figures["c_simulation"]["trucks"] == 10
    for arm in ("interval_only", "push_on_write"):
        assert len(figures["d_commit"][arm]["relayed"]["runs"]) == 2  # both incidents arrived
    assert set(figures["e_link_up"]) >= {"direct", "relayed"}
