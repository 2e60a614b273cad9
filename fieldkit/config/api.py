"""The ``[api]`` section: where the local API listens and how it is protected."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from fieldkit.config.base import Section, is_loopback_host


class ApiSection(Section):
    """Where the local API listens, and the token it requires beyond loopback."""

    host: str = Field(
        "127.0.0.1",
        title="Bind address",
        description="Address of the local API; anything but loopback requires a token",
    )
    port: int = Field(8470, ge=0, le=65535, title="Port", description="0 picks a free port")
    token_file: Path = Field(
        Path("api.token"),
        title="Token file",
        description="Bearer token clients must send when the API is bound beyond loopback",
    )
    max_body_bytes: int = Field(
        1 << 20,
        ge=1024,
        le=64 << 20,
        title="Largest request body",
        description="Larger bodies are refused with 413",
    )

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

