"""The truck's position from gpsd: a small client of gpsd's JSON protocol over TCP.

gpsd (started by the system, see ``hardware/``) owns the receiver; the node only asks
it to ``?WATCH`` and reads one JSON object per line. :class:`TruckPosition` keeps the
live fix and hands a sample to ``record`` every ``sample_s`` seconds; it reconnects with
backoff when gpsd goes away, and never blocks the node: no gpsd is a state, not an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from fieldkit.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

WATCH = b'?WATCH={"enable":true,"json":true};\n'
MAX_LINE = 1 << 20  # a SKY report with many satellites is a few kB; refuse absurd lines


def os_reason(exc: OSError) -> str:
    """"Connection refused" rather than asyncio's "Connect call failed ('h', p)"."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


class GpsdError(Exception):
    """gpsd cannot be reached, or spoke something that is not its JSON protocol."""


@dataclass(frozen=True, slots=True)
class Fix:
    """One position report (gpsd's TPV with a 2D or 3D fix)."""

    lat: float
    """Degrees WGS84."""
    lon: float
    """Degrees WGS84."""
    mode: int
    """2: 2D fix, 3: 3D fix."""
    alt_m: float | None
    """Metres above mean sea level (altMSL, or alt from older gpsd)."""
    speed_ms: float | None
    """Ground speed, m/s."""
    track_deg: float | None
    """Course over ground, degrees true."""
    eph_m: float | None
    """Estimated horizontal error, metres (95%)."""
    gps_time: str | None
    """UTC time of the fix from the receiver (ISO 8601)."""
    device: str | None
    """The receiver's device path as gpsd names it."""
    received_ms: int
    """Node wall clock when the report arrived."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _num(report: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = report.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def parse_tpv(report: dict[str, Any], received_ms: int) -> Fix | None:
    """A :class:`Fix` from a TPV report, or None when it carries no 2D/3D position."""
    mode = report.get("mode")
    lat, lon = _num(report, "lat"), _num(report, "lon")
    if not isinstance(mode, int) or mode < 2 or lat is None or lon is None:
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    gps_time = report.get("time")
    device = report.get("device")
    return Fix(lat=lat, lon=lon, mode=mode, alt_m=_num(report, "altMSL", "alt"),
               speed_ms=_num(report, "speed"), track_deg=_num(report, "track"),
               eph_m=_num(report, "eph"),
               gps_time=gps_time if isinstance(gps_time, str) else None,
               device=device if isinstance(device, str) else None, received_ms=received_ms)


class GpsdClient:
    """One connection to gpsd, watching in JSON mode. ``async with`` or :meth:`close`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, host: str, port: int, timeout_s: float = 5.0) -> GpsdClient:
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(host, port, limit=MAX_LINE)
        except (OSError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else os_reason(exc)
            raise GpsdError(f"gpsd not reachable at {host}:{port}: {reason}") from exc
        try:
            writer.write(WATCH)
            await writer.drain()
        except OSError as exc:
            writer.close()
            raise GpsdError(f"gpsd at {host}:{port} dropped the connection: "
                            f"{os_reason(exc)}") from exc
        return cls(reader, writer)

    async def __aenter__(self) -> GpsdClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def report(self) -> dict[str, Any]:
        """The next JSON report (any class). Raises GpsdError when the stream ends."""
        try:
            line = await self._reader.readline()
        except (OSError, ValueError) as exc:  # ValueError: line over MAX_LINE
            raise GpsdError(f"gpsd connection failed: {exc}") from exc
        if not line:
            raise GpsdError("gpsd closed the connection")
        try:
            report = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GpsdError(f"gpsd sent a line that is not JSON: {line[:80]!r}") from exc
        if not isinstance(report, dict) or not isinstance(report.get("class"), str):
            raise GpsdError(f"gpsd sent JSON without a class: {line[:80]!r}")
        return report

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class PositionState(StrEnum):
    NEW = "new"
    CONNECTING = "connecting"
    NO_FIX = "no_fix"
    FIX = "fix"
    DISCONNECTED = "disconnected"
    STOPPED = "stopped"


Recorder = Callable[[Fix], Awaitable[None]]


class TruckPosition:
    """The live position of the truck, read from gpsd.

    :param host: gpsd's address.
    :param port: gpsd's port.
    :param record: awaited with a fix at most every ``sample_s`` seconds (e.g. to store it).
    :param sample_s: seconds between recorded samples.
    :param retry_max_s: longest wait between reconnection attempts.
    """

    def __init__(self, host: str, port: int, record: Recorder | None = None,
                 sample_s: float = 5.0, retry_max_s: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.state = PositionState.NEW
        self.fix: Fix | None = None
        self.last_error: str | None = None
        self.reports = 0
        self.recorded = 0
        self._record = record
        self._sample_s = sample_s
        self._retry_max_s = retry_max_s
        self._last_sample = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    def _set_state(self, state: PositionState) -> None:
        if state is not self.state:
            logger.info("truck position: %s -> %s", self.state, state)
            self.state = state

    async def start(self) -> None:
        if self.state is not PositionState.NEW:
            raise RuntimeError(f"cannot start truck position in state {self.state}")
        self._set_state(PositionState.CONNECTING)
        self._task = asyncio.create_task(self._run(), name="truck-position")

    async def stop(self) -> None:
        """Stop reading; safe to call twice."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._set_state(PositionState.STOPPED)
        await self._notify()

    async def wait_for(self, predicate: Callable[[TruckPosition], bool],
                       timeout_s: float) -> bool:
        """Wait until ``predicate(self)`` holds (True) or ``timeout_s`` passes (False)."""
        try:
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(lambda: predicate(self))
        except TimeoutError:
            return False
        return True

    def snapshot(self) -> dict[str, Any]:
        """What the API shows."""
        return {"state": self.state.value, "gpsd": f"{self.host}:{self.port}",
                "fix": self.fix.to_json() if self.fix else None, "reports": self.reports,
                "recorded": self.recorded, "last_error": self.last_error}

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await GpsdClient.connect(self.host, self.port) as client:
                    self._set_state(PositionState.NO_FIX)
                    delay = 0.5
                    await self._read(client)
            except GpsdError as exc:
                if self.last_error != str(exc):
                    logger.warning("truck position: %s", exc)
                self.last_error = str(exc)
            self._set_state(PositionState.DISCONNECTED)
            await self._notify()
            await asyncio.sleep(delay)  # backoff between reconnection attempts
            delay = min(delay * 2, self._retry_max_s)

    async def _read(self, client: GpsdClient) -> None:
        while True:
            report = await client.report()
            if report["class"] != "TPV":
                continue
            self.reports += 1
            fix = parse_tpv(report, int(time.time() * 1000))
            if fix is None:
                self._set_state(PositionState.NO_FIX)
            else:
                self.fix = fix
                self._set_state(PositionState.FIX)
                now = time.monotonic()
                if self._record is not None and now - self._last_sample >= self._sample_s:
                    self._last_sample = now
                    try:
                        await self._record(fix)
                        self.recorded += 1
                    except Exception:  # a full disk must not stop the live position
                        logger.exception("truck position: cannot record a sample")
            await self._notify()
