"""`fieldkit bench log` and `bench api` run end to end and report ratios against their baselines."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fieldkit.cli import main


def test_bench_log_reports_every_measure_with_a_ratio():
    result = CliRunner().invoke(main, ["bench", "log", "--events", "2000", "--one-by-one",
                                       "200", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["events"] == 2000
    measures = {"append batched (1000)", "append one by one", "verify+apply foreign batch",
                "rebuild view", "verify every signature"}
    assert set(figures["events_per_s"]) == measures
    assert set(figures["ratio_to_baseline"]) == measures
    assert all(rate > 0 for rate in figures["events_per_s"].values())


@pytest.mark.slow
def test_bench_api_reports_idle_and_loaded_reads_and_loses_no_event():
    result = CliRunner().invoke(main, [
        "bench", "api", "--incidents", "5", "--subscribers", "5", "--writers", "2",
        "--seconds", "2", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures["reads"]) == {"/api/incidents", "/api/health"}
    for read in figures["reads"].values():
        assert read["requests"] > 2
        assert read["p95_x_idle"] > 0
    assert figures["writes"]["acknowledged"] >= 2
    assert figures["streams_complete"] == 5  # every subscriber got every event written
