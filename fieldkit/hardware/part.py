"""The hardware part: the truck's position from gpsd, health incidents and sample retention
(its entry point in the ``fieldkit.parts`` group). Always installed: every node prunes its
old samples, and ``GET /api/hardware`` says what is disabled."""

from __future__ import annotations

from fieldkit.hardware.config import HardwareSection
from fieldkit.parts import Command, Part

PART = Part(
    name="hardware", order=40, section=HardwareSection,
    install="fieldkit.hardware.service:install_hardware",
    background="fieldkit.hardware.service:probes_job",
    commands=(Command("hardware", "fieldkit.hardware.cli:hardware",
                      "Truck hardware: check against a profile, power budget."),),
)
