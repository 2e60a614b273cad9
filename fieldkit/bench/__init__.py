"""Benchmarks behind `fieldkit bench ...`: each measures a baseline in the same run and
prints ratios against it, so figures compare across machines."""

from __future__ import annotations

import statistics


def percentile(values: list[float], q: int) -> float:
    """The ``q``-th percentile of ``values`` (nan when there are none)."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[q - 1]
