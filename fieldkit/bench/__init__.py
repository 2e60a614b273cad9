"""Benchmarks behind `fieldkit bench ...`: each measures a baseline in the same run and
prints ratios against it, so figures compare across machines."""
