"""The package's public names, and that importing the config stays light."""

from __future__ import annotations

import subprocess
import sys

import fieldkit.analytics as analytics


def test_every_exported_name_resolves() -> None:
    for name in analytics.__all__:
        assert getattr(analytics, name).__name__ == name


def test_loading_the_config_does_not_import_opencv_or_torch() -> None:
    code = ("import sys, fieldkit.config; "
            "print(sorted(m for m in ('cv2', 'torch', 'ultralytics') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
