"""fieldkit.hq's public names are exactly its __all__, each loadable."""

from __future__ import annotations

import subprocess
import sys

import fieldkit.hq


def test_every_public_name_loads():
    for name in fieldkit.hq.__all__:
        assert getattr(fieldkit.hq, name) is not None


def test_importing_the_config_does_not_load_the_hq_modules():
    code = ("import sys, fieldkit.config; "
            "sys.exit(any(m in sys.modules for m in ('fieldkit.hq.fusion', 'fieldkit.hq.cot')))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
