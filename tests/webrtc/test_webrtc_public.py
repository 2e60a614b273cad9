"""drone.video's public names, and that `fieldkit drone` stays light."""

from __future__ import annotations

import subprocess
import sys

import drone.video as video


def test_every_exported_name_resolves() -> None:
    for name in video.__all__:
        assert getattr(video, name).__name__ == name


def test_drone_cli_does_not_import_aiortc() -> None:
    code = ("import sys, drone.cli; "
            "print(sorted(m for m in ('aiortc', 'av', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
