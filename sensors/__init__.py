"""The city's own sensors: people counters, turnstiles and road sensors over MQTT or HTTP
push, fused into zone states; GTFS/GTFS-realtime transit disruption (a node part).

:mod:`sensors.part` (read with every config) imports :mod:`sensors.config`, so this
module imports only the light pieces; the running part is :mod:`sensors.service`.
"""

import logging

from sensors.config import SensorKind, SensorsSection
from sensors.readings import Reading, parse_payload
from sensors.zones import ZoneBoard, ZoneState

__all__ = ["Reading", "SensorKind", "SensorsSection", "ZoneBoard", "ZoneState", "parse_payload"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
