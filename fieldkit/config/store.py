"""The ``[store]`` section: SQLite at ``node.database``, or PostgreSQL at city scale."""

from __future__ import annotations

from pydantic import Field, field_validator

from fieldkit.config.base import Section


class StoreSection(Section):
    """Where the incident log lives: the node's SQLite file (node.database) unless a
    PostgreSQL URL is given here (HQ at city scale; see the README's HQ operators part)."""

    url: str | None = Field(
        None,
        title="PostgreSQL URL",
        description="postgresql://USER@HOST:PORT/DB; keep the password in ~/.pgpass, not here."
        " Unset: SQLite at node.database",
        max_length=2000,
    )

    @field_validator("url")
    @classmethod
    def _postgresql_only(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("postgresql://", "postgres://")):
            # The value is not echoed: it may hold a password.
            raise ValueError("store.url: must start with postgresql:// (unset it for SQLite)")
        return url

    @property
    def is_postgresql(self) -> bool:
        return self.url is not None


