"""CPU accounting of the benchmarks (fieldkit/bench/cpu.py) on real processes."""

from __future__ import annotations

import subprocess
import sys

from fieldkit.bench.cpu import CpuShares, tree_cpu_s

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"


def test_a_tree_counts_its_children_living_and_reaped():
    # A parent that, told to, runs a child burning 0.3 s of CPU, then waits for EOF.
    parent = subprocess.Popen([sys.executable, "-c",
                               f"import subprocess, sys; sys.stdin.readline(); subprocess.run("
                               f"[sys.executable, '-c', {BURN!r}]); sys.stdin.read()"],
                              stdin=subprocess.PIPE)
    assert parent.stdin is not None
    try:
        shares = CpuShares({"tree": parent.pid})
        shares.start()
        parent.stdin.write(b"go\n")
        parent.stdin.flush()
        # The child's time shows in the parent's tree, and stays once it is reaped.
        while tree_cpu_s(parent.pid) - shares.baseline["tree"] < 0.3:
            assert parent.poll() is None
        seconds = shares.stop()
    finally:
        parent.communicate(b"")
    assert seconds["tree"] >= 0.3
    assert set(seconds) == {"client", "tree", "other"}
    assert all(value >= 0 for value in seconds.values())
    assert tree_cpu_s(parent.pid) == 0.0  # gone: nothing, not an error
