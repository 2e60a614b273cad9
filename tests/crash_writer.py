"""Child process of test_crash.py: appends events forever, printing each one it has
been told is saved ("ack <text>") only after the call returned."""

from __future__ import annotations

import sys
from pathlib import Path

from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.store import Store


def main(node_dir: Path, run: int) -> None:
    identity = NodeIdentity.load("T01", node_dir / "node.key")
    with Store(node_dir / "fieldkit.db") as store:
        log = IncidentLog(store, identity, Keyring.from_names(identity, {}))
        n = 0
        while True:
            incident = log.create(title=f"run {run} incident {n}", kind="medical", severity=2)
            print(f"ack create {incident.id}", flush=True)
            for _ in range(10):
                n += 1
                if n % 3:
                    text = f"r{run}-n{n}"
                    log.add_note(incident.id, text)
                    print(f"ack note {text}", flush=True)
                else:  # a batch: all of it or none of it
                    texts = [f"r{run}-n{n}-b{k}" for k in range(5)]
                    log.append([(incident.id, "note", {"text": t}) for t in texts])
                    for text in texts:
                        print(f"ack note {text}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
