"""CPU time of process trees and of the whole machine, from /proc: a benchmark whose
parts share the cores (load generator, server, database) says what each took, so a
ratio that stops growing is read against what was left to grow into."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its descendants, living and reaped
    (a reaped child's time is in its parent's cutime/cstime); 0 for a gone process."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):
            # Fields after the command name (which may hold spaces): state is [0].
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(p) for p in (task / "children").read_text().split()]
    return total / TICKS_PER_S


def machine_busy_s() -> float:
    """CPU seconds every core spent busy since boot (all processes: /proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_S


class CpuShares:
    """CPU seconds taken between :meth:`start` and :meth:`stop` by this process
    (``client``), by named process trees, and by everything else on the machine
    (``other``: whoever else shares the cores)."""

    def __init__(self, trees: dict[str, int]) -> None:
        self.trees = trees

    def _sample(self) -> dict[str, float]:
        sample = {"client": time.process_time()}
        sample |= {name: tree_cpu_s(pid) for name, pid in self.trees.items()}
        sample["machine"] = machine_busy_s()
        return sample

    def start(self) -> None:
        # Each part's CPU seconds now ("machine": every core's busy time).
        self.baseline = self._sample()

    def stop(self) -> dict[str, float]:
        end = self._sample()
        seconds = {name: end[name] - self.baseline[name] for name in end}
        seconds["other"] = max(0.0, seconds.pop("machine") - sum(seconds.values()))
        return seconds
