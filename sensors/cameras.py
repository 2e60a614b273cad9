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
    # Each camera's newest window per zone (a correlated max: portable to PostgreSQL,
    # where bare columns beside max() are refused).
    since = now_ms - FRESH_MS
    rows = conn.execute(
        "SELECT m.zone, m.camera, m.count, m.density, m.density_low, m.density_high,"
        " m.method, m.end_ms FROM zone_metrics m"
        f" WHERE m.zone IN ({', '.join('?' * len(zones))}) AND m.end_ms >= ?"
        " AND m.end_ms = (SELECT max(l.end_ms) FROM zone_metrics l"
        "  WHERE l.camera = m.camera AND l.zone = m.zone AND l.end_ms >= ?)",
        [*zones, since, since])
    out: dict[str, CameraSight] = {}
    for zone, camera, count, density, low, high, method, end_ms in rows:
        band = (float(low), float(high)) if low is not None and high is not None else None
        sight = CameraSight(str(camera), float(count), float(density), band, int(end_ms),
                            None if method is None else str(method))
        if zone not in out or sight.density > out[zone].density:
            out[str(zone)] = sight
    return out
