"""Child process of test_alerts.py's SIGKILL test: raises two alerts, updates one and
clears it through the real alert API on a real SQLite file, printing "ack STEP INCIDENT"
after each call returned. With KILL_AT > 0 it SIGKILLs itself as its KILL_AT-th SQL statement starts
(sqlite3's trace hook), so a run of KILL_AT = 1, 2, ... dies between every two steps."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from fieldkit.alerts import Alert, Snapshot, clear, raise_or_update
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.store import Store

BATTERY = Alert("drone:D1", "battery", "Drone D1: battery low", "drone", 3, "drone",
                "Battery at 25%.", {"lat": 21.42, "lon": 39.82}, (("drone", "D1"),))
CRITICAL = Alert("drone:D1", "battery", "Drone D1: battery critical", "drone", 4, "drone",
                 "Battery at 9%.", {"lat": 21.42, "lon": 39.82}, (("drone", "D1"),))
DENSITY = Alert("camera:gate", "density:z1", "High crowd density in z1", "crowd_density", 3,
                "analytics", "4.5 persons/m²", {"camera": "gate", "zone": "z1"},
                (("camera", "gate"),))
SNAPSHOT = Snapshot(b"\xff\xd8 gate \xff\xd9", "gate.jpg")


def scenario(log: IncidentLog, first: int = 0) -> None:
    """The steps from ``first`` on, each acknowledged once it returned."""
    steps: list[tuple[str, Callable[[], object]]] = [
        ("battery", lambda: raise_or_update(log, BATTERY).incident.id),
        ("density", lambda: raise_or_update(log, DENSITY, snapshot=SNAPSHOT).incident.id),
        ("critical", lambda: raise_or_update(log, CRITICAL, note="Battery at 9%.").incident.id),
        ("cleared", lambda: getattr(clear(log, "drone:D1", "battery", note="Battery at 99%.",
                                          resolve="condition cleared"), "id", None)),
    ]
    for step, call in steps[first:]:
        print(f"ack {step} {call()}", flush=True)


def main(db: Path, key: Path, kill_at: int) -> None:
    identity = NodeIdentity.load("T01", key)
    with Store(db) as store:
        statements = 0

        def trace(_sql: str) -> None:
            nonlocal statements
            statements += 1
            if statements == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        store.conn.set_trace_callback(trace)
        scenario(IncidentLog(store, identity, Keyring.from_names(identity, {})))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
