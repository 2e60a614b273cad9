"""The one logging setup, called by the CLI (never at import)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup_logging(level: str = "INFO", *, file: Path | None = None,
                  handler: logging.Handler | None = None) -> None:
    """Log to stderr, or to ``file``, or through ``handler`` (the console's). Python
    warnings (a library's FutureWarning, say) are logged the same way, as the
    ``py.warnings`` logger, instead of being printed over the terminal."""
    if handler is None:
        handler = logging.StreamHandler(sys.stderr) if file is None \
            else logging.FileHandler(file, encoding="utf-8")
    logging.basicConfig(
        level=level,
        handlers=[handler],
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        force=True,
    )
    logging.captureWarnings(True)
