"""What the node's cameras see of the sensors' zones: a camera zone with the same name
as a sensors zone looks at the same ground. Its latest ``zone_metrics`` window is shown
beside the sensors' figures, compared with them, and counted as one more source of the
zone's state (the worse of the two judges it)."""

from __future__ import annotations

from dataclasses import dataclass

from fieldkit.storeapi import Connection

FRESH_MS = 60_000
"""A camera window older than this no longer counts."""


@dataclass(frozen=True, slots=True)
class CameraSight:
    """One camera's latest window over a zone."""

    camera: str
    count: float
    """Mean people in the zone over the window."""
    density: float
    """Mean persons/m²."""
    band: tuple[float, float] | None
    """Density interval when the counter gives one."""
    end_ms: int
    """When the window closed (node wall clock)."""
    method: str | None = None
    """How the camera counted (detection, density map, fused); None: not recorded."""


def camera_sights(conn: Connection, zones: list[str], now_ms: int
                  ) -> dict[str, CameraSight]:
    """Per zone name, the densest fresh camera window (run on the store thread)."""
    if not zones:
        return {}
    rows = conn.execute(
        "SELECT zone, camera, count, density, density_low, density_high, method,"
        " max(end_ms)"
        f" FROM zone_metrics WHERE zone IN ({', '.join('?' * len(zones))}) AND end_ms >= ?"
        " GROUP BY zone, camera", [*zones, now_ms - FRESH_MS])
    out: dict[str, CameraSight] = {}
    for zone, camera, count, density, low, high, method, end_ms in rows:
        band = (float(low), float(high)) if low is not None and high is not None else None
        sight = CameraSight(str(camera), float(count), float(density), band, int(end_ms),
                            None if method is None else str(method))
        if zone not in out or sight.density > out[zone].density:
            out[str(zone)] = sight
    return out
