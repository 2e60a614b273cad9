"""The demo part: only the `fieldkit demo` command, no section and nothing on a node. Its
entry point in the ``fieldkit.parts`` group keeps ``fieldkit`` from importing the demo,
which imports every part."""

from __future__ import annotations

from fieldkit.parts import Command, Part

PART = Part(
    name="demo", order=95,
    commands=(Command("demo", "demo.cli:demo",
                      "Two trucks and HQ on loopback, a camera, a drone and scripted crews."),),
)
