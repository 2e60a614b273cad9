"""`fieldkit bench mavlink`: the telemetry hot path against bare pymavlink parsing.

Both sides get the same datagrams in the same run: the simulator's traffic for a few
drones on one link (one packet per datagram, as autopilots send over UDP).

- baseline: ``pymavlink`` ``MAVLink.parse_buffer`` on each datagram (robust parsing;
  in the signed run with the key set, so pymavlink verifies each signature as well);
- fieldkit: :meth:`Receiver.feed` on each datagram: its own framing, the signature check
  (signed run, before decoding), pymavlink's ``decode`` of each packet, per-system
  dispatch, sequence-loss counting, value checks and the vehicle state update;
- decode only: pymavlink's ``decode`` per datagram and nothing else, shown so that the
  cost of everything fieldkit adds (framing included) can be read off honestly: part of
  the low overhead against ``parse_buffer`` comes from fieldkit's framing being cheaper
  than pymavlink's.

Both sides run on the same chunks back to back; the overhead is the median of the paired
per-chunk time ratios, minus one (robust to other load on the machine). Rates are from
each side's fastest round.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone.georef import CameraModel
from drone.receiver import Receiver
from drone.signing import SigningKey
from drone.sim import SimSettings, SimVehicle

TARGET_OVERHEAD = 0.25
_KEY = SigningKey.from_text("fieldkit bench")


def traffic(messages: int, vehicles: int,
            key: SigningKey | None) -> list[tuple[float, bytes]]:
    """``messages`` datagrams from ``vehicles`` simulated drones, interleaved in time,
    each with its flight time (arrival times keep pace with the autopilots' boot clocks,
    as on a real link: one session per vehicle)."""
    sims = [SimVehicle(SimSettings(system_id=i + 1, key=key, lat=21.42 + i * 0.001))
            for i in range(vehicles)]
    out: list[tuple[float, bytes]] = []
    t = 0.0
    while len(out) < messages:
        for sim in sims:
            out += [(t, p) for p in sim.packets(t)]
        t += 0.005
    return out[:messages]


def _parser(key: SigningKey | None) -> Any:
    mav = mavlink.MAVLink(None)
    mav.robust_parsing = True
    if key is not None:  # pymavlink then checks every signature itself, as we do
        mav.signing.secret_key = key.secret
    return mav


def _bare(datagrams: list[bytes], mav: Any) -> int:
    n = 0
    for d in datagrams:
        msgs = mav.parse_buffer(d)
        if msgs:
            n += len(msgs)
    return n


def _decode_only(datagrams: list[bytes], mav: Any) -> int:
    """pymavlink's decoder alone, each datagram taken as one packet (no framing, no
    signature check, nothing applied): the floor under both other figures."""
    decode = mav.decode
    for d in datagrams:
        decode(bytearray(d))
    return len(datagrams)


def _fieldkit(datagrams: list[bytes], receiver: Receiver, times: list[float]) -> int:
    n = 0
    for d, at in zip(datagrams, times, strict=True):
        n += receiver.feed(d, at)
    return n


def _timed(fn: Callable[[], int], expected: int) -> float:
    start = time.perf_counter()
    n = fn()
    elapsed = time.perf_counter() - start
    if n != expected:
        raise RuntimeError(f"bench: {n} messages handled, expected {expected}")
    return elapsed


@dataclass
class Figures:
    messages: int
    bare_s: float
    fieldkit_s: float
    decode_s: float
    overhead: float
    """Median over chunks of fieldkit's time over the baseline's, minus one."""

    @property
    def bare_rate(self) -> float:
        return self.messages / self.bare_s

    @property
    def fieldkit_rate(self) -> float:
        return self.messages / self.fieldkit_s

    @property
    def ratio(self) -> float:
        """fieldkit's speed relative to the baseline's (paired measure)."""
        return 1.0 / (1.0 + self.overhead)

    @property
    def decode_rate(self) -> float:
        return self.messages / self.decode_s



@dataclass
class MavlinkBenchResult:
    messages: int
    vehicles: int
    runs: dict[str, Figures] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages, "vehicles": self.vehicles,
            "target_overhead": TARGET_OVERHEAD,
            **{name: {"bare_msgs_per_s": round(f.bare_rate),
                      "fieldkit_msgs_per_s": round(f.fieldkit_rate),
                      "decode_only_msgs_per_s": round(f.decode_rate),
                      "ratio": round(f.ratio, 3),
                      "overhead": round(f.overhead, 3),
                      "within_target": f.overhead <= TARGET_OVERHEAD}
               for name, f in self.runs.items()},
        }

    def table(self) -> str:
        lines = [f"{self.messages:,} MAVLink 2 datagrams from {self.vehicles} simulated "
                 "drones on one link",
                 f"{'run':<10}{'bare msgs/s':>14}{'fieldkit msgs/s':>18}{'ratio':>8}"
                 f"{'overhead':>10}  target <= {TARGET_OVERHEAD:.0%}"]
        for name, f in self.runs.items():
            verdict = "ok" if f.overhead <= TARGET_OVERHEAD else "OVER"
            lines.append(f"{name:<10}{f.bare_rate:>14,.0f}{f.fieldkit_rate:>18,.0f}"
                         f"{f.ratio:>8.3f}{f.overhead:>9.1%}  {verdict}")
        lines.append("decode only (pymavlink decode() per datagram, no framing, nothing "
                     "applied): " + ", ".join(f"{name} {f.decode_rate:,.0f} msgs/s"
                                              for name, f in self.runs.items()))
        return "\n".join(lines)


def run_mavlink_bench(*, messages: int = 100_000, vehicles: int = 3, rounds: int = 3,
                      chunk: int = 5_000,
                      progress: Callable[[str], None] = lambda _: None) -> MavlinkBenchResult:
    """Time both sides on the same chunks of ``chunk`` datagrams, back to back (order
    alternating), ``rounds`` times over. The overhead is the median of the paired
    per-chunk ratios, so load from other processes, which shifts both sides of a pair
    alike, cancels out; the rates are from the fastest round."""
    result = MavlinkBenchResult(messages, vehicles)
    for name, key in (("unsigned", None), ("signed", _KEY)):
        progress(f"generating {messages:,} {name} datagrams")
        made_at = time.time()
        timed = traffic(messages, vehicles, key)
        data = [d for _, d in timed]
        times = [made_at + t for t, _ in timed]
        parts = [data[i:i + chunk] for i in range(0, len(data), chunk)]
        ratios: list[float] = []
        best = {"bare": float("inf"), "fieldkit": float("inf"), "decode": float("inf")}
        for r in range(rounds):
            progress(f"{name}: round {r + 1}/{rounds}")
            total = dict.fromkeys(best, 0.0)
            # One parser and one receiver per round, kept across chunks, as on a link.
            mav, plain = _parser(key), mavlink.MAVLink(None)
            receiver = Receiver("bench", default_camera=CameraModel(1920, 1080, 80.0),
                                key=key, clock=partial(float, made_at))
            for i, part in enumerate(parts):
                bare = partial(_bare, part, mav)
                mine = partial(_fieldkit, part, receiver, times[i * chunk:(i + 1) * chunk])
                if (i + r) % 2:
                    t_mine, t_bare = _timed(mine, len(part)), _timed(bare, len(part))
                else:
                    t_bare, t_mine = _timed(bare, len(part)), _timed(mine, len(part))
                ratios.append(t_mine / t_bare)
                total["bare"] += t_bare
                total["fieldkit"] += t_mine
                total["decode"] += _timed(partial(_decode_only, part, plain), len(part))
            best = {k: min(best[k], total[k]) for k in best}
        result.runs[name] = Figures(messages, best["bare"], best["fieldkit"], best["decode"],
                                    statistics.median(ratios) - 1.0)
    return result
