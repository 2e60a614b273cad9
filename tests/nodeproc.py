"""`fieldkit node run` as a real process, for tests that need one."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def node_process(node_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start the node in ``node_dir`` on a free port; yield (process, API URL). Killed on
    exit if the test did not stop it."""
    config = node_dir / "fieldkit.toml"
    config.write_text(config.read_text().replace("port = 8470", "port = 0"))
    proc = subprocess.Popen([sys.executable, "-m", "fieldkit.cli", "node", "run", "--dir",
                             str(node_dir)], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            found = re.search(r"API listening on (http://127\.0\.0\.1:\d+)", line)
            if found:
                break
        else:
            pytest.fail("the node never said where it listens")
        yield proc, found.group(1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
