"""The drones part: MAVLink telemetry, geo-referencing and drone alerts (its entry point in
the ``fieldkit.parts`` group). Light: only the section is imported with the config."""

from __future__ import annotations

from drone.config import DronesSection
from fieldkit.config import Config
from fieldkit.parts import Command, Part


def _has_links(config: Config) -> bool:
    return bool(config.section(DronesSection).links)


PART = Part(
    name="drones", order=20, section=DronesSection, install="drone.service:setup",
    background="drone.service:telemetry_job",
    enabled=_has_links,
    commands=(
        Command("drone", "drone.cli:drone",
                "Drones: simulator, signing key, status, video publish."),
        Command("mavlink", "drone.cli:bench_mavlink",
                "MAVLink telemetry parsed and applied against bare pymavlink parsing.",
                bench=True),
    ),
)
