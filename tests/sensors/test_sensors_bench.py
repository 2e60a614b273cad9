"""`fieldkit bench sensors` runs end to end and reports both rates and the latency."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fieldkit.cli import main


@pytest.mark.slow
def test_bench_sensors_reports_rates_ratio_and_latency():
    result = CliRunner().invoke(main, ["bench", "sensors", "--readings", "2000", "--sensors",
                                       "2", "--trials", "2", "--dwell", "0.2", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["readings"] == 2000
    assert figures["bare_per_s"] > 0
    assert figures["fieldkit_per_s"] > 0
    assert figures["ratio"] == round(figures["fieldkit_per_s"] / figures["bare_per_s"], 3)
    assert len(figures["latency_s"]) == 2
    # The incident never comes before the dwell has passed.
    assert min(figures["latency_s"]) >= 0
