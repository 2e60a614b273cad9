"""The ``[hq]`` section of ``fieldkit.toml``: emergency calls, their fusion with what the
trucks see, CAP alerts and Cursor-on-Target feeds. Declared by the hq part
(:mod:`fieldkit.hq.part`) and loaded with every config, so it imports nothing heavy.

Example::

    [hq]
    merge_distance_m = 150          # a call this close to an analytics incident ...
    merge_window_s = 600            # ... seen this recently is the same situation
    share_callback_numbers = false  # callback numbers stay on the node that took the call
    cap_min_severity = 4

    [hq.cot]
    multicast = true                # ATAK tablets on the LAN (239.2.3.1:6969)
    multicast_interface = "10.0.0.1"
    tak_host = "tak.example.org"    # a TAK server, TLS on 8089 (client cert optional)
    tak_ca_file = "tak-ca.pem"      # or tak_protocol = "tcp", tak_port = 8087: unencrypted
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from fieldkit.config.base import Section


class CotSection(Section):
    multicast: bool = Field(
        False, title="CoT multicast",
        description="Send Cursor-on-Target to ATAK clients by UDP multicast")
    multicast_group: str = Field(
        "239.2.3.1", title="Multicast group", description="ATAK's default SA group")
    multicast_port: int = Field(6969, ge=1, le=65535, title="Multicast port",
                                description="ATAK's default SA port")
    multicast_interface: str = Field(
        "127.0.0.1", title="Multicast interface",
        description="IPv4 address of the one interface the datagrams leave by")
    multicast_ttl: int = Field(1, ge=0, le=32, title="Multicast TTL",
                               description="Router hops; 1 keeps them on the local network")
    tak_host: str | None = Field(
        None, min_length=1, max_length=253, title="TAK server",
        description="Host of a TAK server taking CoT over TLS (unset: none)")
    tak_port: int = Field(8089, ge=1, le=65535, title="TAK server port",
                          description="Streaming port: 8089 (TLS) or 8087 (TCP) by default")
    tak_protocol: Literal["tls", "tcp"] = Field(
        "tls", title="TAK transport",
        description="tls, or tcp: plain and unencrypted (taky, FreeTAKServer and TAK "
                    "Server take it on 8087), only for a closed network; logged as such")
    tak_ca_file: Path | None = Field(
        None, title="TAK CA", description="PEM file of the CA that signed the server's cert")
    tak_cert_file: Path | None = Field(
        None, title="Client certificate", description="PEM client certificate, if required")
    tak_key_file: Path | None = Field(
        None, title="Client key", description="PEM key of the client certificate")
    interval_s: float = Field(
        5.0, ge=0.05, le=3600, title="Position interval",
        description="Seconds between position reports (drones, trucks) and marker refreshes")
    stale_s: float = Field(
        300.0, ge=10, le=86400, title="Stale after",
        description="Seconds after which a client greys out a marker not refreshed")

    @model_validator(mode="after")
    def _check(self) -> CotSection:
        try:
            group = ipaddress.IPv4Address(self.multicast_group)
            iface = ipaddress.IPv4Address(self.multicast_interface)
        except ValueError:
            raise ValueError("hq -> cot: multicast_group and multicast_interface must be IPv4 "
                             "addresses") from None
        if not group.is_multicast:
            raise ValueError(f"hq -> cot -> multicast_group {self.multicast_group!r} is not a "
                             "multicast address")
        if iface.is_unspecified:
            raise ValueError("hq -> cot -> multicast_interface 0.0.0.0 would use any "
                             "interface; name the one to use")
        if (self.tak_cert_file is None) != (self.tak_key_file is None):
            raise ValueError("hq -> cot: tak_cert_file and tak_key_file go together")
        if self.tak_protocol == "tcp" and (self.tak_ca_file or self.tak_cert_file):
            raise ValueError("hq -> cot: tak_protocol tcp is unencrypted; tak_ca_file, "
                             "tak_cert_file and tak_key_file are for tls")
        return self


class HqSection(Section):
    """HQ: calls fused with what trucks see, CAP alerts and Cursor-on-Target feeds."""

    merge_distance_m: float = Field(
        150.0, ge=0, le=10_000, title="Merge distance",
        description="A call this close (metres) to an open analytics incident of a related "
        "kind is merged into it instead of opening a new incident")
    merge_window_s: float = Field(
        600.0, ge=0, le=86_400, title="Merge window",
        description="... if that incident changed within this many seconds")
    camera_range_m: float = Field(
        150.0, gt=0, le=5000, title="Camera range",
        description="Farthest ground distance (from the calibrated area) a camera covers")
    drone_max_age_s: float = Field(
        60.0, gt=0, le=3600, title="Live drone",
        description="A drone sampled within this many seconds can be linked to a call")
    share_callback_numbers: bool = Field(
        False, title="Share callback numbers",
        description="Write callers' numbers into the incident (synced to the fleet); by "
        "default they stay in this node's local call table")
    cap_min_severity: int = Field(
        4, ge=1, le=5, title="CAP threshold",
        description="Incidents at or above this severity are published as CAP 1.2 alerts")
    cap_sender: str | None = Field(
        None, min_length=1, max_length=200, pattern=r"^[^\s,&<]+$", title="CAP sender",
        description="CAP <sender> (unset: fieldkit@NODE)")
    cot: CotSection = Field(default_factory=CotSection, title="Cursor-on-Target",
                            description="ATAK multicast and TAK server feeds")
