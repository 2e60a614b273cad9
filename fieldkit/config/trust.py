"""The ``[trust]`` section: the other nodes whose events this node accepts."""

from __future__ import annotations

from pydantic import Field

from fieldkit.config.base import NodeName, Section
from fieldkit.hlc import DEFAULT_MAX_CLOCK_SKEW_S


class TrustSection(Section):
    """The other nodes whose events this node accepts, by public key."""

    nodes: dict[NodeName, str] = Field(
        default_factory=dict,
        title="Trusted nodes",
        description="Node name -> base64 Ed25519 public key, as `fieldkit init` prints it",
    )
    max_clock_skew_s: int = Field(
        DEFAULT_MAX_CLOCK_SKEW_S, ge=1, le=7 * 86_400, title="Maximum clock skew",
        description="Events dated further ahead of this node's clock are refused and "
                    "counted (sent again later by their origin)",
    )
