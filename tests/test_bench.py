"""`fieldkit bench log` runs end to end and reports ratios against its baseline."""

from __future__ import annotations

import json

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
