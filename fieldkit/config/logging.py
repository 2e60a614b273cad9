"""The ``[logging]`` section: how much the node writes to its log."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fieldkit.config.base import Section


class LoggingSection(Section):
    """How much the node writes to its log."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", title="Log level", description="DEBUG, INFO, WARNING or ERROR"
    )

