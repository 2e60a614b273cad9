"""The console part: only commands (`fieldkit tui`, `fieldkit bench tui`), no section and
nothing on the node. Its entry point in the ``fieldkit.parts`` group keeps ``fieldkit``
from importing textual."""

from __future__ import annotations

from fieldkit.parts import Command, Part

PART = Part(
    name="console", order=90,
    commands=(
        Command("tui", "tui.cli:tui", "The crew console (textual)."),
        Command("tui", "tui.cli:bench_tui",
                "Console first paint and filter/sort against a baseline.", bench=True),
    ),
)
