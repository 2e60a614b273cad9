"""The replication protocol's payloads: compact event batches, vectors, and the order in
which a node offers what a peer lacks.

**Batch encoding.** A batch is ``b"FKB1"`` + zlib(``u32 header length`` + JSON header +
raw signatures). The header lists runs of consecutive events of one origin::

    {"runs": [{"o": origin, "s": first seq, "p": prev of the first, "n": count,
               "e": [[hlc - previous hlc, incident, kind, payload], ...]}]}

followed by each event's signature (64 bytes) and hash (32 bytes), raw, in order. Inside a
run ``origin``, ``seq`` and ``prev`` are not repeated: they follow from the run header and
the position (``prev`` is the previous event's hash). Tampering cannot hide in what was left
out: decoded events go through :meth:`IncidentLog.apply_wire`, the same verification path as
every other input, which recomputes every hash from the body, checks each ``prev`` against
the chain held, and checks the origin's signature; a changed, dropped, inserted or
reordered event breaks the hash, the chain or the signature.

**Priority order.** Chains must be applied contiguously per origin, so priority can only
choose *which origin's next event* goes next. Each pending event gets its incident's
urgency (open before closed, then severity, then latest change), raised to the highest
urgency of any later pending event of the same origin inside the look-ahead window (twice
a batch's share per origin): an urgent event pulls the events it depends on forward with it. The
per-origin lists are then merged by that urgency, which keeps each chain in order.
"""

from __future__ import annotations

import base64
import heapq
import json
import logging
import struct
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from fieldkit import wirejson
from fieldkit.events import Event
from fieldkit.identity import Keyring
from fieldkit.log import IncidentLog
from sync.errors import ProtocolError

logger = logging.getLogger(__name__)

MAGIC = b"FKB1"
MAX_BATCH_EVENTS = 10_000
MAX_DECODED_BYTES = 64 << 20
_SIG_BYTES = 64
_RECORD_BYTES = 96  # per event: signature (64) + hash (32)
Vector = dict[str, int]


# --- events ------------------------------------------------------------------------------


def encode_fitting(events: list[Event], max_bytes: int, keyring: Keyring
                   ) -> tuple[bytes, list[Event]]:
    """Encode the longest prefix of ``events`` (halving) whose batch is at most
    ``max_bytes`` and inflates to at most half the receiver's limit, each origin's part
    ending on an event this node can vouch for (:func:`vouched`). A prefix of a plan
    keeps every chain contiguous. Returns the batch and the events it holds."""
    count = len(events)
    while True:
        sent = vouched(events[:count], keyring)
        batch, raw = _encode(sent)
        if count <= 1 or (len(batch) <= max_bytes and raw <= MAX_DECODED_BYTES // 2):
            return batch, sent
        count //= 2


def vouched(events: list[Event], keyring: Keyring) -> list[Event]:
    """``events`` less, per origin, what follows its last event whose signature verifies.

    A receiver checks one signature per origin and batch, the last one; the chain proves
    the events before it. So a batch must end each origin's part on a signature checked
    here: interior signatures were never checked on the way in (a tampering relay may
    have replaced them), and sending one as the last would get the whole part refused.
    Verifies one signature per origin when the log is genuine.
    """
    chains: dict[str, list[Event]] = {}
    for e in events:
        chains.setdefault(e.origin, []).append(e)
    last: dict[str, int] = {}
    for origin, chain in chains.items():
        keep = len(chain)
        while keep and not chain[keep - 1].signature_valid(keyring.verify):
            keep -= 1
        last[origin] = chain[keep - 1].seq if keep else 0
        if keep < len(chain):
            logger.warning("holding back %s:%d..%d: their signatures do not verify here (a "
                           "tampered copy); a true copy from any peer replaces them",
                           origin, chain[keep].seq, chain[-1].seq)
    return [e for e in events if e.seq <= last[e.origin]]


def encode_batch(events: list[Event]) -> bytes:
    """Compact, compressed form of ``events`` (each origin's in chain order)."""
    return _encode(events)[0]


def _encode(events: list[Event]) -> tuple[bytes, int]:
    runs: list[dict[str, Any]] = []
    sigs: list[bytes] = []
    last: Event | None = None
    hlc = 0
    for e in events:
        if last is None or e.origin != last.origin or e.seq != last.seq + 1:
            runs.append({"o": e.origin, "s": e.seq, "p": e.prev, "n": 0, "e": []})
            hlc = 0
        run = runs[-1]
        run["e"].append([e.hlc - hlc, e.incident, e.kind, e.payload])
        run["n"] += 1
        hlc = e.hlc
        last = e
        sigs.append(_b64decode(e.sig) + bytes.fromhex(e.hash))
    header = json.dumps({"runs": runs}, separators=(",", ":"), ensure_ascii=False).encode()
    raw = struct.pack(">I", len(header)) + header + b"".join(sigs)
    return MAGIC + zlib.compress(raw, 6), len(raw)


def decode_batch(data: bytes) -> list[dict[str, Any]]:
    """Wire-form events (dicts for :meth:`IncidentLog.apply_wire`) from a batch.

    Raises ProtocolError saying what is wrong; hashes are recomputed, not trusted.
    """
    if not data.startswith(MAGIC):
        raise ProtocolError("batch does not start with FKB1: not a fieldkit event batch")
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(data[len(MAGIC):], MAX_DECODED_BYTES)
        if inflater.unconsumed_tail:
            raise ProtocolError(f"batch inflates beyond {MAX_DECODED_BYTES} bytes")
        if not inflater.eof:
            raise ProtocolError("batch is truncated: the compressed stream does not end")
    except zlib.error as exc:
        raise ProtocolError(f"batch is corrupted: {exc}") from exc
    if len(raw) < 4:
        raise ProtocolError("batch is truncated: no header length")
    (size,) = struct.unpack(">I", raw[:4])
    if size > len(raw) - 4:
        raise ProtocolError(f"batch header claims {size} bytes, {len(raw) - 4} present")
    try:
        header = wirejson.loads(raw[4:4 + size])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"batch header is not JSON: {exc}") from exc
    sigs = raw[4 + size:]
    runs = header.get("runs") if isinstance(header, dict) else None
    if not isinstance(runs, list):
        raise ProtocolError("batch header lacks its list of runs")
    events: list[dict[str, Any]] = []
    for i, run in enumerate(runs):
        events += _decode_run(i, run, sigs, len(events))
        if len(events) > MAX_BATCH_EVENTS:
            raise ProtocolError(f"batch holds more than {MAX_BATCH_EVENTS} events")
    if len(sigs) != len(events) * _RECORD_BYTES:
        raise ProtocolError(f"batch has {len(sigs)} signature and hash bytes for "
                            f"{len(events)} events")
    return events


def _decode_run(index: int, run: Any, sigs: bytes, done: int) -> list[dict[str, Any]]:
    if not isinstance(run, dict) or set(run) != {"o", "s", "p", "n", "e"}:
        raise ProtocolError(f"batch run {index} is not an object with o, s, p, n, e")
    origin, seq, prev, items = run["o"], run["s"], run["p"], run["e"]
    if type(seq) is not int or not isinstance(items, list) or run["n"] != len(items):
        raise ProtocolError(f"batch run {index}: bad seq or event count")
    out: list[dict[str, Any]] = []
    hlc = 0
    for j, item in enumerate(items):
        if not isinstance(item, list) or len(item) != 4 or type(item[0]) is not int:
            raise ProtocolError(f"batch run {index} event {j}: not [hlc, incident, kind, "
                                "payload]")
        hlc += item[0]
        n = done + j
        record = sigs[n * _RECORD_BYTES:(n + 1) * _RECORD_BYTES]
        if len(record) != _RECORD_BYTES:
            raise ProtocolError(f"batch run {index} event {j}: signature and hash missing")
        sig, digest = record[:_SIG_BYTES], record[_SIG_BYTES:].hex()
        out.append({"origin": origin, "seq": seq + j, "hlc": hlc, "incident": item[1],
                    "kind": item[2], "payload": item[3], "prev": prev, "hash": digest,
                    "sig": _b64encode(sig)})
        prev = digest
    return out


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text)


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# --- vectors -----------------------------------------------------------------------------


def parse_vector(data: Any, what: str = "vector") -> Vector:
    """A version vector from JSON: ``{origin: highest seq}``."""
    if not isinstance(data, dict):
        raise ProtocolError(f"{what} must be a JSON object of origin -> seq")
    for origin, seq in data.items():
        if not isinstance(origin, str) or len(origin) > 32 or type(seq) is not int or seq < 0:
            raise ProtocolError(f"{what}: {origin!r} -> {seq!r} is not origin -> seq >= 0")
    return dict(data)


def parse_vector_text(text: str) -> Vector:
    """``T01=12,HQ=3`` or a JSON object, as given on the command line."""
    text = text.strip()
    if text.startswith("{"):
        try:
            return parse_vector(wirejson.loads(text))
        except json.JSONDecodeError as exc:
            raise ProtocolError(f"vector is not JSON: {exc}") from exc
    vector: Vector = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        origin, sep, seq = part.partition("=")
        if not sep or not seq.isdigit():
            raise ProtocolError(f"vector entry {part!r} is not ORIGIN=SEQ")
        vector[origin] = int(seq)
    return vector


def pending(mine: Mapping[str, int], theirs: Mapping[str, int],
            allowed: Callable[[str], bool]) -> int:
    """How many events ``mine`` holds beyond ``theirs``, among allowed origins."""
    return sum(max(0, held - theirs.get(o, 0)) for o, held in mine.items() if allowed(o))


# --- priority ----------------------------------------------------------------------------


def plan(log: IncidentLog, theirs: Mapping[str, int], allowed: Callable[[str], bool],
         limit: int) -> list[Event]:
    """Up to ``limit`` events ``log`` holds beyond ``theirs``, most urgent first, each
    origin's chain in order (see the module docstring). Runs on the store thread."""
    mine = log.version_vector()
    behind = [o for o, held in mine.items() if held > theirs.get(o, 0) and allowed(o)]
    # Look-ahead per origin: enough to fill the batch twice over between them, so a
    # backlog of many origins does not read many batches' worth to send one.
    window = min(limit, max(64, 2 * -(-limit // max(1, len(behind)))))
    chains = {o: log.events_after(o, theirs.get(o, 0), window) for o in behind}
    chains = {o: c for o, c in chains.items() if c}
    if len(chains) <= 1:
        return next(iter(chains.values()), [])[:limit]
    triage = log.triage(e.incident for chain in chains.values() for e in chain)
    heap: list[tuple[tuple[int, int, int], str, int]] = []
    urgency: dict[str, list[tuple[int, int, int]]] = {}
    for origin, chain in chains.items():
        best = (0, 0, 0)
        keys: list[tuple[int, int, int]] = []
        for e in reversed(chain):
            is_open, severity, updated = triage.get(e.incident, (False, 0, 0))
            best = max(best, (int(is_open), severity, updated))
            keys.append(best)
        keys.reverse()
        urgency[origin] = keys
        heap.append((_neg(keys[0]), origin, 0))
    heapq.heapify(heap)
    out: list[Event] = []
    while heap and len(out) < limit:
        _, origin, i = heapq.heappop(heap)
        out.append(chains[origin][i])
        if i + 1 < len(chains[origin]):
            heapq.heappush(heap, (_neg(urgency[origin][i + 1]), origin, i + 1))
    return out


def _neg(key: tuple[int, int, int]) -> tuple[int, int, int]:
    return (-key[0], -key[1], -key[2])
