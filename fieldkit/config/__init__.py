"""The node's configuration: one typed model, loaded from ``fieldkit.toml``.

One module per section. The core's sections are here (:mod:`~fieldkit.config.node`,
:mod:`~fieldkit.config.api`, :mod:`~fieldkit.config.trust`, :mod:`~fieldkit.config.store`,
:mod:`~fieldkit.config.logging`); each part keeps its section beside its code
(``drone/config.py``, ``sync/config.py``, ``fieldkit/hq/config.py``, ...) and declares it
through its ``fieldkit.parts`` entry point; :mod:`~fieldkit.config.root` assembles them.
"""

from fieldkit.config.api import ApiSection
from fieldkit.config.base import NodeName, Section, is_loopback_host
from fieldkit.config.load import (
    CONFIG_FILE,
    load_config,
    parse_config,
    read_config_text,
    validate_config,
)
from fieldkit.config.logging import LoggingSection
from fieldkit.config.node import NodeSection
from fieldkit.config.root import Config, config_model
from fieldkit.config.store import StoreSection
from fieldkit.config.trust import TrustSection

__all__ = [
    "CONFIG_FILE",
    "ApiSection",
    "Config",
    "LoggingSection",
    "NodeName",
    "NodeSection",
    "Section",
    "StoreSection",
    "TrustSection",
    "config_model",
    "is_loopback_host",
    "load_config",
    "parse_config",
    "read_config_text",
    "validate_config",
]
