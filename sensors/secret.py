"""Secrets of the sensors part (broker password, push token, transit API key): given
inline in the config or, better, in a file beside it; never logged."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from fieldkit.config import Config
from fieldkit.errors import ConfigError


def read_secret(config: Config, inline: SecretStr | None, path_setting: Path | None,
                where: str) -> str | None:
    """The secret given inline (a SecretStr) or in a file (read now); None when neither."""
    if inline is not None:
        return str(inline.get_secret_value())
    if path_setting is None:
        return None
    path = config.path(path_setting)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where} {path} cannot be read: {exc.strerror}") from exc
    if len(secret) < 8:
        raise ConfigError(f"{where} {path}: shorter than 8 characters")
    return secret
