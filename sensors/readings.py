"""Readings: what a sensor sent, parsed and checked, and the ``sensor_readings`` table.

A payload is a bare number (``"1234"``: stamped with its arrival time) or a JSON object
``{"value": 1234, "at": "2026-12-02T20:15:00Z"}`` (``at`` may also be epoch seconds or
milliseconds). Counters of crossings (``line_*``, ``turnstile_*``) send their running
total: a duplicate or late total then changes nothing, and a total that drops is a
counter reset. Readings stay on the node that took them: the table is never synced.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fieldkit import wirejson
from fieldkit.errors import IngestError
from fieldkit.storeapi import Connection
from sensors.config import SensorKind, SensorSection

MAX_PAYLOAD_BYTES = 4096
#: Bounds of a plausible value, per kind.
_RANGE = {SensorKind.ROAD_SPEED: (0.0, 400.0), SensorKind.ROAD_OCCUPANCY: (0.0, 100.0),
          SensorKind.ROAD_FLOW: (0.0, 20_000.0)}
_PEOPLE_RANGE = (0.0, 1e9)


@dataclass(frozen=True, slots=True)
class Reading:
    """One value from one sensor."""

    sensor: str
    kind: SensorKind
    zone: str | None
    value: float
    at_ms: int
    """When it was measured (node wall clock ms): the sensor's stamp, or the arrival time
    when it sent none or its clock is off by more than the allowed skew."""
    sensor_ms: int | None
    """The sensor's own stamp as sent (None: it sent none)."""
    received_ms: int
    """Arrival at this node (node wall clock ms)."""
    via: str
    """mqtt or http."""


def parse_payload(sensor: SensorSection, payload: bytes | str | dict[str, Any] | float,
                  received_ms: int, via: str, max_skew_ms: int) -> Reading:
    """Check one payload from ``sensor``; :class:`IngestError` names what is wrong."""
    where = f"sensor {sensor.id}"
    body: Any = payload
    if isinstance(payload, bytes | str):
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise IngestError(f"{where}: payload of {len(payload)} bytes is larger than "
                              f"{MAX_PAYLOAD_BYTES}")
        try:
            text = payload.decode() if isinstance(payload, bytes) else payload
            body = wirejson.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IngestError(f"{where}: payload {_show(payload)} is neither a number nor "
                              "JSON {\"value\": ..., \"at\": ...}") from exc
    sensor_ms: int | None = None
    if isinstance(body, dict):
        unknown = sorted(set(body) - {"value", "at", "sensor"})
        if unknown:
            raise IngestError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
        if "value" not in body:
            raise IngestError(f"{where}: payload has no 'value'")
        if body.get("at") is not None:
            sensor_ms = parse_time(body["at"], where)
        body = body["value"]
    value = _number(body, where)
    low, high = _RANGE.get(sensor.kind, _PEOPLE_RANGE)
    if not low <= value <= high:
        raise IngestError(f"{where}: value {value:g} is outside {low:g}..{high:g} "
                          f"{sensor.units} for {sensor.kind.value}")
    at_ms = received_ms
    if sensor_ms is not None and abs(sensor_ms - received_ms) <= max_skew_ms:
        at_ms = sensor_ms
    return Reading(sensor.id, sensor.kind, sensor.zone, value, at_ms, sensor_ms, received_ms,
                   via)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IngestError(f"{where}: value {_show(value)} is not a number")
    if not math.isfinite(value):
        raise IngestError(f"{where}: value {value} is not finite")
    return float(value)


def parse_time(value: Any, where: str) -> int:
    """Epoch seconds or milliseconds, or ISO 8601 with a UTC offset -> epoch ms."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        ms = value if value > 1e11 else value * 1000  # 1e11 s is the year 5138
        if 0 < ms < 1e14:
            return int(ms)
    elif isinstance(value, str) and len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                raise IngestError(f"{where}: at {value!r} has no UTC offset (add Z or +hh:mm)")
            return int(parsed.timestamp() * 1000)
    raise IngestError(f"{where}: at {_show(value)} is not epoch seconds, milliseconds or "
                      "an ISO 8601 time")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_COLUMNS = ("sensor", "kind", "zone", "value", "at_ms", "sensor_ms", "received_ms", "via")


def store_readings(conn: Connection, readings: list[Reading]) -> int:
    """Append ``readings`` (inside the caller's transaction); returns how many were new.
    A reading the sensor stamped exactly as one already held is a duplicate (a QoS 1
    redelivery, a retried push) and is skipped."""
    cursor = conn.executemany(
        f"INSERT INTO sensor_readings ({', '.join(_COLUMNS)})"
        f" VALUES ({', '.join('?' * len(_COLUMNS))}) ON CONFLICT DO NOTHING",
        [(r.sensor, r.kind.value, r.zone, r.value, r.at_ms, r.sensor_ms, r.received_ms, r.via)
         for r in readings])
    return cursor.rowcount


def recent_readings(conn: Connection, sensor: str | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
    """The latest stored readings (of one sensor), newest first."""
    sql = f"SELECT {', '.join(_COLUMNS)} FROM sensor_readings"
    args: list[Any] = []
    if sensor is not None:
        sql += " WHERE sensor = ?"
        args.append(sensor)
    rows = conn.execute(sql + " ORDER BY at_ms DESC, id DESC LIMIT ?", [*args, limit])
    return [dict(zip(_COLUMNS, row, strict=True)) for row in rows]


def pushed_since(conn: Connection, after_id: int) -> list[tuple[int, Reading]]:
    """Readings pushed over HTTP with an id above ``after_id``, by id: whichever API
    process took the push, the one running the zones folds them in."""
    rows = conn.execute(f"SELECT id, {', '.join(_COLUMNS)} FROM sensor_readings"
                        " WHERE via = 'http' AND id > ? ORDER BY id", [after_id])
    return [(row[0], Reading(row[1], SensorKind(row[2]), *row[3:])) for row in rows]


def last_id(conn: Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM sensor_readings").fetchone()[0])
