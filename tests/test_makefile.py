"""The Makefile's system-deps on a machine where another apt-get runs (issue 14 item 14)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_every_apt_get_waits_for_the_dpkg_lock():
    """`make -n` prints the recipe without running it: each apt-get in it must wait for
    the lock (apt's DPkg::Lock::Timeout) instead of failing when another one holds it."""
    recipe = subprocess.run(["make", "-n", "-C", str(ROOT), "system-deps"], check=True,
                            capture_output=True, text=True).stdout
    calls = re.findall(r"apt-get[^;&|}]*", recipe)
    assert len(calls) >= 6  # update + install for each of the three groups
    for call in calls:
        assert "-o DPkg::Lock::Timeout=600" in call, call
