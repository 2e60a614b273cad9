"""Each package's public names are exactly its __all__."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["fieldkit", "drone", "sync", "tui", "sensors"])
def test_all_names_exist(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        assert hasattr(module, name), f"{package}.__all__ names missing {name}"


def test_fieldkit_public_api():
    import fieldkit

    assert sorted(fieldkit.__all__) == [
        "ApplyReport", "FieldkitError", "Incident", "IncidentLog", "Keyring", "NodeIdentity",
        "Rejection", "Store"]


def test_fieldkit_does_not_import_tui():
    code = ("import sys, fieldkit.cli, fieldkit.node, fieldkit.api; "
            "sys.exit('tui' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
