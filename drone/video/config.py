"""The ``[webrtc]`` section: drone video received on the WHIP endpoint (drone/video).
Loaded with every config, so it imports nothing heavy (no aiortc)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from fieldkit.config.base import NodeName, Section


class WhipPublisherSection(Section):
    name: NodeName = Field(
        title="Feed name", description="The publisher's feed, e.g. D1-video (a camera name in "
        "analytics and the live view)")
    token: SecretStr | None = Field(
        None, title="Bearer token", description="What the pilot or drone sends (16+ characters)")
    token_file: Path | None = Field(
        None, title="Token file", description="File holding the token (instead of token)")
    vehicle: str | None = Field(
        None, min_length=1, max_length=64, title="Vehicle",
        description="drones.vehicles name whose MAVLink pose geo-references this feed")

    @model_validator(mode="after")
    def _one_token(self) -> WhipPublisherSection:
        if (self.token is None) == (self.token_file is None):
            raise ValueError(f"webrtc -> publishers -> {self.name}: give token or token_file "
                             "(one of them)")
        if self.token is not None and len(self.token.get_secret_value()) < 16:
            raise ValueError(f"webrtc -> publishers -> {self.name}: the token is shorter "
                             "than 16 characters")
        return self


class WebRTCSection(Section):
    """Drone video received on the WHIP endpoint (drone/video)."""

    enabled: bool = Field(True, title="WHIP endpoint", description="Serve /whip and /publish")
    ice_addresses: list[str] | None = Field(
        None, title="ICE addresses", description="Host candidates offered; unset: every "
        "address of this host but loopback (set [\"127.0.0.1\"] for tests and the demo)")
    publishers: list[WhipPublisherSection] = Field(
        default_factory=list, title="Publishers", description="One token per pilot or drone")
    max_sessions: int = Field(8, ge=1, le=64, title="Concurrent publishers",
                              description="More sessions are refused with 503")
    timeout_s: float = Field(
        10.0, gt=0, le=300, title="Vanished after",
        description="Seconds without a frame (or to connect) before a session is closed")
    analyse: bool = Field(True, title="Analytics", description="Feed frames to the analytics")
    analyse_fps: float = Field(4.0, gt=0, le=60, title="Analysed frame rate",
                               description="Most frames per second sent to the detector")

    @model_validator(mode="after")
    def _unique(self) -> WebRTCSection:
        names = [p.name for p in self.publishers]
        if len(set(names)) != len(names):
            raise ValueError("webrtc -> publishers: names must be unique")
        return self

