"""Crash safety: a writer process is SIGKILLed at 50 random instants; everything it
acknowledged survives exactly once and the database stays intact."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.store import Store

WRITER = Path(__file__).with_name("crash_writer.py")
KILLS = 50


@pytest.mark.slow
def test_sigkill_at_random_instants_loses_and_duplicates_nothing(node_dir, tmp_path):
    rng = random.Random(20261126)
    acked_notes: list[str] = []
    acked_incidents: list[str] = []
    for run in range(KILLS):
        proc = subprocess.Popen([sys.executable, str(WRITER), str(node_dir), str(run)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        wanted = rng.randint(1, 25)
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if len(lines) >= wanted:
                break
        # Jitter, so the kill lands anywhere in the next write (not synchronisation:
        # the test reads what the writer acknowledged after the kill, whatever it was).
        time.sleep(rng.uniform(0, 0.004))
        proc.send_signal(signal.SIGKILL)
        lines += proc.stdout.readlines()  # acks printed before death are acks too
        proc.wait()
        assert proc.stderr is not None
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
        proc.stderr.close()
        proc.stdout.close()
        for line in lines:
            _, what, value = line.split()
            (acked_notes if what == "note" else acked_incidents).append(value)

    identity = NodeIdentity.load("T01", node_dir / "node.key")
    with Store(node_dir / "fieldkit.db") as store:
        assert store.integrity_check() == "ok"
        log = IncidentLog(store, identity, Keyring.from_names(identity, {}))
        incidents = log.incidents()
        held_notes = Counter(n.text for i in incidents for n in i.notes)
        held_ids = {i.id for i in incidents}
        events = [e for _, e in log.feed(limit=1_000_000)]
        view = store.conn.execute("SELECT id, state FROM incidents ORDER BY id").fetchall()
        log.rebuild()
        assert store.conn.execute("SELECT id, state FROM incidents ORDER BY id").fetchall() == view

    assert acked_notes, "the writer never acknowledged anything"
    assert all(held_notes[text] == 1 for text in acked_notes)
    assert max(held_notes.values()) == 1  # nothing duplicated, acknowledged or not
    assert set(acked_incidents) <= held_ids
    # The chain survived every kill: a fresh node verifies and accepts all of it.
    other = NodeIdentity.generate("HQ")
    with Store(tmp_path / "verify.db") as store:
        verifier = IncidentLog(store, other, Keyring.from_names(
            other, {"T01": identity.public_key_b64}))
        report = verifier.apply(events)
    assert (report.applied, report.rejected, report.deferred) == (len(events), [], [])
