"""The ``[node]`` section: who this node is and where its files are."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from fieldkit.config.base import NodeName, Section


class NodeSection(Section):
    """Who this node is (name, role) and where its key and database are."""

    name: NodeName = Field(title="Node name", description="Unique in the fleet, e.g. T07 or HQ")
    role: Literal["truck", "hq"] = Field(title="Role", description="'truck' or 'hq'")
    key_file: Path = Field(
        Path("node.key"), title="Key file", description="Ed25519 private key (PEM, mode 0600)"
    )
    database: Path = Field(
        Path("fieldkit.db"), title="Database", description="SQLite file of the incident log"
    )

