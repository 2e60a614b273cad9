"""`fieldkit node run` as a real process, for tests that need one."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

LISTENING = re.compile(r"API listening on (http://127\.0\.0\.1:\d+)")


class RunningNode:
    """A node process whose stderr is read all along: the node logs there, and an unread
    pipe fills at 64 KiB and blocks its logging, and with it its event loop."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.url = ""
        """Where its API listens (once it said so)."""
        self._lines: list[str] = []
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._lines.append(line)
            if not self.url and (found := LISTENING.search(line)):
                self.url = found.group(1)
                self._listening.set()
        self._listening.set()  # it exited without listening

    def wait_listening(self, timeout_s: float) -> str:
        self._listening.wait(timeout_s)  # a bound for a hang, not a timing
        if not self.url:
            pytest.fail(f"the node never said where it listens:\n{''.join(self._lines)}")
        return self.url

    def find(self, pattern: str) -> re.Match[str] | None:
        """The first line so far matching ``pattern``."""
        return next((m for line in list(self._lines) if (m := re.search(pattern, line))),
                    None)

    def output(self) -> str:
        """All the node wrote to stderr (waits for it to exit)."""
        self.proc.wait()
        self._reader.join()
        return "".join(self._lines)


@contextmanager
def node_process(node_dir: Path) -> Iterator[RunningNode]:
    """Start the node in ``node_dir`` on a free port; yield it once it listens. Killed on
    exit if the test did not stop it; its log goes to the test's captured stderr."""
    config = node_dir / "fieldkit.toml"
    config.write_text(config.read_text().replace("port = 8470", "port = 0"))
    node = RunningNode(subprocess.Popen(
        [sys.executable, "-m", "fieldkit.cli", "node", "run", "--dir", str(node_dir)],
        stderr=subprocess.PIPE, text=True))
    try:
        node.wait_listening(120)
        yield node
    finally:
        if node.proc.poll() is None:
            node.proc.kill()
        sys.stderr.write(node.output()[-20_000:])  # shown when the test fails
