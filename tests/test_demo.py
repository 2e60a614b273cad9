"""`fieldkit demo --headless`: runs on embedded defaults and reports what happened."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_headless_demo_prints_a_summary_and_exits_0(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fieldkit.cli", "demo", "--headless", "--duration", "3",
         "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    incidents = int(re.search(r"incidents\s+(\d+)", out).group(1))
    written, delivered = map(int, re.search(r"events\s+(\d+) written, (\d+) delivered",
                                            out).groups())
    assert incidents >= 1
    assert written >= incidents
    assert delivered == written  # the live stream missed nothing
    assert "rejected   0" in out
    assert (tmp_path / "T01" / "fieldkit.db").exists()
