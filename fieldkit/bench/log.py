"""`fieldkit bench log`: the incident log against a plain sqlite-utils insert.

Measured, on fresh databases in one temporary directory (same pragmas everywhere:
WAL, synchronous=FULL):

- baseline: ``sqlite_utils`` ``insert_all`` of the same event rows, one transaction;
- append batched: :meth:`IncidentLog.append` in batches of 1,000 (hash, sign, insert,
  fold), as analytics would write;
- append one by one: one transaction (and fsync) per event, as crews write;
- verify+apply: a foreign batch in wire form through :meth:`IncidentLog.apply_wire`
  (envelope, chain, hashes, payloads, one signature per run, insert, fold);
- rebuild: refold the whole view from the events;
- verify every signature: what verify+apply would cost if intake checked each event's
  signature instead of one per run (the chain proves the rest; a relay forwards a run
  only up to a signature it checked, :func:`sync.protocol.vouched`). Measured with
  ``cryptography``; PyNaCl (libsodium) was measured on this machine at ~1.5x that, and
  even spread over both cores it stays below the 20,000 events/s verify+apply must keep.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils
import uuid6

from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.store import Store
from fieldkit.view import event_to_row

BATCH = 1000
EVENTS_PER_INCIDENT = 10


@dataclass
class LogBenchResult:
    events: int
    baseline_rows_s: float
    figures: dict[str, float] = field(default_factory=dict)
    """Name -> events per second."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "baseline_rows_per_s": round(self.baseline_rows_s),
            "events_per_s": {k: round(v) for k, v in self.figures.items()},
            "ratio_to_baseline": {k: round(v / self.baseline_rows_s, 3)
                                  for k, v in self.figures.items()},
        }

    def table(self) -> str:
        lines = [f"{'measure':<28}{'events/s':>12}{'x baseline':>12}",
                 f"{'plain sqlite-utils insert':<28}{self.baseline_rows_s:>12,.0f}{1:>12.3f}"]
        lines += [f"{name:<28}{rate:>12,.0f}{rate / self.baseline_rows_s:>12.3f}"
                  for name, rate in self.figures.items()]
        return "\n".join(lines)


def workload(n: int, origin: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``n`` events over ``n / 10`` incidents: create, notes, an assignment, a status."""
    seq = 0
    while seq < n:
        incident = str(uuid6.uuid7())
        create_id = f"{origin}:{seq + 1}"
        steps: list[tuple[str, dict[str, Any]]] = [
            ("create", {"title": f"bench incident {seq}", "kind": "crowd_density",
                        "severity": 3, "source": "analytics",
                        "location": {"lat": 21.42, "lon": 39.87, "accuracy_m": 5.0}}),
            *[("note", {"text": f"density reading {k}"}) for k in range(EVENTS_PER_INCIDENT - 3)],
            ("assign", {"agency": "police", "unit": "P-21"}),
            ("status", {"status": "acknowledged", "base": [create_id], "reason": ""}),
        ]
        for kind, payload in steps[: n - seq]:
            seq += 1
            yield incident, kind, payload


def run_log_bench(*, events: int, one_by_one: int,
                  progress: Callable[[str], None] = lambda _: None) -> LogBenchResult:
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-") as tmp:
        root = Path(tmp)
        source_id, target_id = NodeIdentity.generate("BENCH-A"), NodeIdentity.generate("BENCH-B")
        items = list(workload(events, source_id.name))

        progress(f"append batched: {events} events in batches of {BATCH}")
        with Store(root / "a.db") as store:
            log = IncidentLog(store, source_id, Keyring.from_names(source_id, {}))
            batched = _rate(events, lambda: [log.append(items[i:i + BATCH])
                                             for i in range(0, events, BATCH)])
            wire = [e.to_wire() for _, e in log.feed(limit=events)]
            rows = [dict(zip(("origin", "seq", "hlc", "incident", "kind", "payload", "prev",
                              "hash", "sig"), event_to_row(e), strict=True))
                    for _, e in log.feed(limit=events)]

        progress(f"baseline: plain sqlite-utils insert of the same {events} rows")
        baseline = _rate(events, lambda: _plain_insert(root / "plain.db", rows))

        progress(f"append one by one: {one_by_one} events, one transaction each")
        with Store(root / "c.db") as store:
            log = IncidentLog(store, source_id, Keyring.from_names(source_id, {}))
            single = _rate(one_by_one, lambda: [log.append([item])
                                                for item in items[:one_by_one]])

        progress(f"verify+apply: a foreign batch of {events} events")
        with Store(root / "b.db") as store:
            keyring = Keyring.from_names(target_id, {source_id.name: source_id.public_key_b64})
            log = IncidentLog(store, target_id, keyring)
            report = None

            def apply() -> None:
                nonlocal report
                report = log.apply_wire(wire)

            applied = _rate(events, apply)
            if report is None or report.applied != events or report.rejected:
                raise RuntimeError(f"verify+apply did not take every event: {report}")

            progress("rebuild: refold the view from all events")
            rebuilt = _rate(events, log.rebuild)
            progress("verify every signature (the alternative to one per run)")
            held = log.events_since({}, limit=events)
            each = _rate(events, lambda: all(e.signature_valid(keyring.verify) for e in held))

    result = LogBenchResult(events, baseline)
    result.figures = {"append batched (1000)": batched, "append one by one": single,
                      "verify+apply foreign batch": applied, "rebuild view": rebuilt,
                      "verify every signature": each}
    return result


def _plain_insert(path: Path, rows: list[dict[str, Any]]) -> None:
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    with db.atomic():
        db["events"].insert_all(rows, batch_size=BATCH)  # type: ignore[union-attr]
    db.close()


def _rate(count: int, fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return count / (time.perf_counter() - started)
