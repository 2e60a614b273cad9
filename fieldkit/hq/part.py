"""The hq part: emergency calls, the fleet picture, CAP and Cursor-on-Target feeds (its
entry point in the ``fieldkit.parts`` group)."""

from __future__ import annotations

from fieldkit.hq.config import HqSection
from fieldkit.parts import Command, Part

PART = Part(
    name="hq", order=60, section=HqSection, install="fieldkit.hq.service:install_hq",
    background="fieldkit.hq.service:cot_job",
    commands=(
        Command("call", "fieldkit.hq.cli:call", "Emergency calls."),
        Command("report", "fieldkit.hq.cli:report", "Response-time report."),
        Command("feed", "fieldkit.hq.cli:feed", "GeoJSON, CAP, CoT."),
        Command("hq", "fieldkit.hq.migrate:hq", "HQ at city scale: move the log to PostgreSQL."),
        Command("hq", "fieldkit.hq.bench:bench_hq",
                "Fleet ingest into HQ: SQLite vs PostgreSQL with 1 and 2 workers.", bench=True),
    ),
)
