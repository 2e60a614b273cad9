"""The sensors part: city sensors over MQTT or HTTP push and transit disruption (its entry
point in the ``fieldkit.parts`` group). Light: only the section loads with the config."""

from __future__ import annotations

from fieldkit.config import Config
from fieldkit.parts import Command, Part
from sensors.config import SensorsSection


def _enabled(config: Config) -> bool:
    return config.section(SensorsSection).enabled


PART = Part(
    name="sensors", order=70, section=SensorsSection,
    install="sensors.service:install_sensors",
    background="sensors.service:sensors_job", enabled=_enabled,
    commands=(Command("sensors", "sensors.bench:bench_sensors",
                      "MQTT readings into zones against a bare aiomqtt subscriber.",
                      bench=True),),
)
