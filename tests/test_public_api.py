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


def test_fieldkit_does_not_import_the_console():
    # Only the console part's declaration (tui.part) loads, with the other parts'.
    code = ("import sys, fieldkit.cli, fieldkit.node, fieldkit.api; "
            "print(sorted(m for m in sys.modules if m.startswith(('tui.', 'textual'))"
            " and m != 'tui.part'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
