"""Loading ``fieldkit.toml`` in three steps, as in Frigate: :func:`read_config_text` finds
the file, :func:`parse_config` reads TOML, :func:`validate_config` checks it. Each step
raises :class:`~fieldkit.errors.ConfigError` naming the key, the value and what is
expected."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fieldkit.config.root import Config, config_model
from fieldkit.errors import ConfigError
from fieldkit.strict import describe

CONFIG_FILE = "fieldkit.toml"


def read_config_text(node_dir: Path) -> str:
    path = node_dir / CONFIG_FILE
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no config at {path}: run `fieldkit init --role truck --name NAME --dir {node_dir}`"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def parse_config(text: str, source: str = CONFIG_FILE) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc


def validate_config(data: dict[str, Any], base_dir: Path, source: str = CONFIG_FILE) -> Config:
    try:
        return config_model().model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe(exc)}") from exc


def load_config(node_dir: Path) -> Config:
    """Read, parse and validate ``fieldkit.toml`` in ``node_dir``."""
    source = str(node_dir / CONFIG_FILE)
    data = parse_config(read_config_text(node_dir), source)
    if "base_dir" in data:
        raise ConfigError(f"{source}: base_dir: unknown key; the node directory is implied")
    return validate_config(data, node_dir, source)
