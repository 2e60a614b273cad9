"""The hardware part: the truck's position from gpsd and health incidents (its entry point
in the ``fieldkit.parts`` group)."""

from __future__ import annotations

from fieldkit.config import Config
from fieldkit.hardware.config import HardwareSection
from fieldkit.parts import Command, Part


def _watches(config: Config) -> bool:
    hardware = config.section(HardwareSection)
    return hardware.gps or hardware.health


PART = Part(
    name="hardware", order=40, section=HardwareSection,
    install="fieldkit.hardware.service:install_hardware",
    background="fieldkit.hardware.service:probes_job", enabled=_watches,
    commands=(Command("hardware", "fieldkit.hardware.cli:hardware",
                      "Truck hardware: check against a profile, power budget."),),
)
