"""The ``[sync]`` section: peers, HQ, discovery and the pace of background sync."""

from __future__ import annotations

import ipaddress

from pydantic import Field, model_validator

from fieldkit.config.base import NodeName, Section


class SyncPeer(Section):
    name: NodeName = Field(title="Peer name", description="The peer's node name (its origin id)")
    url: str = Field(
        title="Peer URL",
        description="Base URL of the peer's node API, e.g. http://10.0.0.7:8470",
        pattern=r"^https?://[^/\s]+/?$",
        max_length=200,
    )


class SyncSection(Section):
    """Sync with other trucks and HQ: peers, discovery and the pace of sessions."""

    enabled: bool = Field(
        True, title="Background sync", description="Sync with peers whenever one answers"
    )
    peers: list[SyncPeer] = Field(
        default_factory=list, title="Static peers", description="Trucks (or HQ) to sync with"
    )
    hq: NodeName | None = Field(
        None,
        title="HQ node",
        description="Name of the HQ node; its key (in trust.nodes) signs the fleet roster",
    )
    hq_url: str | None = Field(
        None,
        title="HQ URL",
        description="Base URL of HQ's node API; HQ is always a peer when set",
        pattern=r"^https?://[^/\s]+/?$",
        max_length=200,
    )
    discovery: bool = Field(
        False, title="Discovery", description="Announce and find peers with zeroconf (mDNS)"
    )
    discovery_interface: str = Field(
        "127.0.0.1",
        title="Discovery interface",
        description="IP address of the only interface zeroconf may use",
    )
    interval_s: float = Field(
        5.0, ge=0.05, le=3600, title="Sync interval", description="Seconds between sessions"
    )
    push_on_write: bool = Field(
        True,
        title="Push on write",
        description="A write to the log (local, or applied from a peer) starts a session with"
        " every reachable peer within about 0.1 s; off: only every interval_s",
    )
    backoff_max_s: float = Field(
        300.0,
        ge=0.1,
        le=86400,
        title="Longest backoff",
        description="Upper bound of the wait after failed sessions (doubles per failure)",
    )
    batch_events: int = Field(
        2000, ge=1, le=10000, title="Batch size", description="Events per atomic batch"
    )
    blob_budget_bytes: int = Field(
        8 << 20,
        ge=0,
        le=1 << 34,
        title="Blob budget",
        description="Attachment bytes sent or fetched per session, each way",
    )
    timeout_s: float = Field(
        30.0, gt=0, le=600, title="Request timeout", description="Seconds per sync request"
    )
    max_clock_skew_s: int = Field(
        300,
        ge=5,
        le=86400,
        title="Clock skew allowed",
        description="Signed requests older or newer than this are refused as replays",
    )

    def peer_urls(self, own_name: str) -> dict[str, str]:
        """Peers from the config: name -> URL, HQ included (unless this node is HQ)."""
        peers = {p.name: p.url for p in self.peers}
        if self.hq is not None and self.hq_url is not None and self.hq != own_name:
            peers[self.hq] = self.hq_url
        return peers

    @model_validator(mode="after")
    def _peers_unique(self) -> SyncSection:
        names = [p.name for p in self.peers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sync -> peers: {', '.join(dupes)} listed more than once")
        if self.hq_url is not None and self.hq is None:
            raise ValueError("sync -> hq_url is set, so sync.hq (HQ's node name) is required")
        try:
            iface = ipaddress.IPv4Address(self.discovery_interface)
        except ValueError:
            raise ValueError(f"sync -> discovery_interface {self.discovery_interface!r} is "
                             "not an IPv4 address") from None
        if iface.is_unspecified:
            raise ValueError("sync -> discovery_interface 0.0.0.0 would use every interface; "
                             "name the one interface discovery may use")
        return self

