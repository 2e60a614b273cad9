"""HQ and the city's systems: emergency calls fused with what the trucks see, the fleet
picture, response-time reports, and GeoJSON, CAP 1.2 and Cursor-on-Target feeds.

``fieldkit.config`` imports :mod:`fieldkit.hq.config` (the ``[hq]`` section), so this
package imports nothing heavy up front.
"""

from __future__ import annotations

import logging

__all__: list[str] = []

logging.getLogger(__name__).addHandler(logging.NullHandler())
