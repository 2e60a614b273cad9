"""Bundle files: the same exchange as an HTTP session, carried on a USB stick.

Layout: the line ``FIELDKIT-BUNDLE 1\\n``, then frames, each
``kind (1 byte) | length (u32) | crc32 (u32) | payload``:

- ``H`` header (JSON): exporting node, time, the vector exported from, counts, roster;
- ``E`` events: one batch in the protocol's encoding (:mod:`sync.protocol`), priority order;
- ``B`` blob: ``u32`` JSON length, ``{"sha256", "mime"}``, then the content;
- ``Z`` end (JSON): counts and the sha256 of every byte before it, signed by the exporter.

Import scans the whole file first and names every defect with its byte offset
(truncation, a bad CRC, a missing end, a wrong digest). Events then go through
:meth:`IncidentLog.apply_wire`, the same verification as sync over HTTP (chain, hash,
origin signature), so a damaged bundle can never bring in a wrong event: intact frames
before and after the damage are verified and applied, the damaged ones are skipped, and
the import reports the damage. Importing the same bundle twice changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldkit import wirejson
from fieldkit.errors import NotFoundError
from fieldkit.hlc import wall_ms
from fieldkit.log import IncidentLog
from sync.errors import BundleError, ProtocolError, RosterError
from sync.protocol import Vector, decode_batch, encode_batch, pending, plan, vouched
from sync.roster import Roster, Trust, adopt

MAGIC = b"FIELDKIT-BUNDLE 1\n"
_FRAME = struct.Struct(">cII")
_KINDS = {b"H": "header", b"E": "events", b"B": "blob", b"Z": "end"}
_END_CONTEXT = b"fieldkit/bundle/v1\x00"
BATCH = 2000
MAX_FRAME = 256 << 20

Progress = Callable[[int], None]


@dataclass
class ExportResult:
    path: Path
    events: int = 0
    blobs: int = 0
    bytes: int = 0
    since: Vector = field(default_factory=dict)


@dataclass
class ImportResult:
    """What an import did, and what was wrong with the file."""

    node: str = "?"
    """Who exported it (as the header says)."""
    signature: str = "missing"
    """'valid', 'invalid', 'unknown signer' or 'missing'."""
    events: int = 0
    """Events in intact frames."""
    applied: int = 0
    duplicates: int = 0
    deferred: int = 0
    rejected: list[str] = field(default_factory=list)
    blobs: int = 0
    roster: str = ""
    problems: list[str] = field(default_factory=list)
    """Every defect found, each with its byte offset."""


def export_bundle(log: IncidentLog, trust: Trust, path: Path, since: Vector,
                  allowed: Callable[[str], bool], blob_budget: int,
                  progress: Progress | None = None) -> ExportResult:
    """Write what a node at ``since`` lacks (among ``allowed`` origins) to ``path``."""
    result = ExportResult(path, since=dict(since))
    digest = hashlib.sha256()
    part = path.with_name(path.name + ".part")
    total = pending(log.version_vector(), since, allowed)
    with open(part, "wb") as f:
        def put(kind: bytes, payload: bytes) -> None:
            data = _FRAME.pack(kind, len(payload), zlib.crc32(payload)) + payload
            f.write(data)
            digest.update(data)

        f.write(MAGIC)
        digest.update(MAGIC)
        header = {"format": 1, "node": log.identity.name, "created": wall_ms(),
                  "since": since, "events": total,
                  "roster": trust.roster.to_json() if trust.roster else None}
        put(b"H", json.dumps(header).encode())
        theirs = dict(since)
        named: list[str] = []
        while True:
            events = vouched(plan(log, theirs, allowed, BATCH), log.keyring)
            if not events:
                break
            put(b"E", encode_batch(events))
            for e in events:
                theirs[e.origin] = max(theirs.get(e.origin, 0), e.seq)
                if e.kind == "attach" and isinstance(e.payload.get("blob"), str):
                    named.append(e.payload["blob"])
            result.events += len(events)
            if progress:
                progress(len(events))
        used = 0
        for sha in dict.fromkeys(named):
            try:
                mime, data = log.blob(sha)
            except NotFoundError:
                continue
            if used + len(data) > blob_budget:
                continue
            used += len(data)
            meta = json.dumps({"sha256": sha, "mime": mime}).encode()
            put(b"B", struct.pack(">I", len(meta)) + meta + data)
            result.blobs += 1
        seal = digest.hexdigest()
        sig = log.identity.sign(_END_CONTEXT + bytes.fromhex(seal))
        put(b"Z", json.dumps({"events": result.events, "blobs": result.blobs,
                              "sha256": seal, "node": log.identity.name,
                              "sig": base64.b64encode(sig).decode()}).encode())
        f.flush()
        os.fsync(f.fileno())
    os.replace(part, path)
    result.bytes = path.stat().st_size
    return result


@dataclass
class _Frame:
    kind: bytes
    offset: int
    payload: bytes


def scan(data: bytes) -> tuple[list[_Frame], list[str]]:
    """Intact frames and the problems found, each located by byte offset."""
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):
            raise BundleError(f"bundle is truncated: {len(data)} bytes, not even the header")
        raise BundleError("not a fieldkit bundle: it does not start with FIELDKIT-BUNDLE 1")
    frames: list[_Frame] = []
    problems: list[str] = []
    digest = hashlib.sha256(MAGIC)
    pos, n = len(MAGIC), 0
    ended = False
    while pos < len(data):
        n += 1
        if len(data) - pos < _FRAME.size:
            problems.append(f"truncated at byte {len(data)}: frame {n} at byte {pos} has only "
                            f"{len(data) - pos} of its {_FRAME.size} header bytes")
            break
        kind, length, crc = _FRAME.unpack_from(data, pos)
        name = _KINDS.get(kind)
        if name is None or length > MAX_FRAME:
            problems.append(f"corrupted at byte {pos}: frame {n} has an invalid header "
                            f"(kind {kind!r}, length {length}); the rest cannot be read")
            break
        start, end = pos + _FRAME.size, pos + _FRAME.size + length
        if end > len(data):
            problems.append(f"truncated at byte {len(data)}: frame {n} ({name}) at byte {pos} "
                            f"declares {length} bytes, only {len(data) - start} remain")
            break
        payload = data[start:end]
        if kind == b"Z":
            problems += _check_end(payload, digest.hexdigest(), pos, frames)
            ended = True
            pos = end
            break
        digest.update(data[pos:end])
        if zlib.crc32(payload) != crc:
            problems.append(f"corrupted at byte {pos}: frame {n} ({name}, {length} bytes) "
                            "fails its CRC check and was skipped")
        else:
            frames.append(_Frame(kind, pos, payload))
        pos = end
    stopped = (bool(problems) and "cannot be read" in problems[-1]) \
        or any(p.startswith("truncated") for p in problems)
    if not ended and not stopped:
        problems.append(f"truncated at byte {len(data)}: the end frame is missing")
    if ended and pos < len(data):
        problems.append(f"{len(data) - pos} unexpected bytes after the end frame at byte {pos}")
    return frames, problems


def _check_end(payload: bytes, seal: str, pos: int, frames: list[_Frame]) -> list[str]:
    try:
        end = wirejson.loads(payload)
        ok = isinstance(end, dict) and end.get("sha256") == seal
    except (json.JSONDecodeError, UnicodeDecodeError):
        return [f"corrupted at byte {pos}: the end frame is not JSON"]
    if not ok:
        return [f"corrupted: the content digest in the end frame (byte {pos}) does not match "
                "the bytes before it"]
    frames.append(_Frame(b"Z", pos, payload))
    return []


def import_bundle(log: IncidentLog, trust: Trust, path: Path,
                  progress: Progress | None = None) -> ImportResult:
    """Verify and apply a bundle; see the module docstring for damaged files."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read bundle {path}: {exc.strerror}") from exc
    frames, problems = scan(data)
    result = ImportResult(problems=list(problems))
    for frame in frames:
        if frame.kind == b"H":
            _header(log, trust, frame, result)
        elif frame.kind == b"E":
            try:
                wire = decode_batch(frame.payload)
            except ProtocolError as exc:
                result.problems.append(f"frame at byte {frame.offset}: {exc}")
                continue
            result.events += len(wire)
            report = log.apply_wire(wire)
            result.applied += report.applied
            result.duplicates += report.duplicates
            result.deferred += len(report.deferred)
            result.rejected += [f"{r.event}: {r.reason}: {r.detail}" for r in report.rejected]
            if progress:
                progress(len(wire))
        elif frame.kind == b"Z":
            _end(trust, frame, data, result)
    missing = set(log.missing_blobs())
    for frame in frames:
        if frame.kind == b"B":
            result.blobs += _blob(log, frame, missing, result)
    return result


def _header(log: IncidentLog, trust: Trust, frame: _Frame, result: ImportResult) -> None:
    try:
        header: dict[str, Any] = wirejson.loads(frame.payload)
        result.node = str(header["node"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        result.problems.append(f"corrupted at byte {frame.offset}: the header is not valid")
        return
    if header.get("roster") is not None:
        try:
            if adopt(log, trust, Roster.parse(header["roster"])):
                result.roster = f"adopted v{trust.roster_version}"
        except RosterError as exc:
            result.roster = f"refused: {exc}"


def _end(trust: Trust, frame: _Frame, data: bytes, result: ImportResult) -> None:
    end = wirejson.loads(frame.payload)
    node, sig = end.get("node"), end.get("sig")
    if not isinstance(node, str) or not isinstance(sig, str):
        result.signature = "missing"
        return
    if node not in trust.keyring():
        result.signature = f"unknown signer {node}"
        return
    try:
        raw = base64.b64decode(sig, validate=True)
    except ValueError:
        raw = b""
    ok = trust.keyring().verify(node, raw, _END_CONTEXT + bytes.fromhex(end["sha256"]))
    result.signature = "valid" if ok else "invalid"
    if not ok:
        result.problems.append(f"the end frame is not signed by {node}'s key")


def _blob(log: IncidentLog, frame: _Frame, missing: set[str], result: ImportResult) -> int:
    try:
        (size,) = struct.unpack_from(">I", frame.payload)
        meta = wirejson.loads(frame.payload[4:4 + size])
        sha, mime = str(meta["sha256"]), str(meta["mime"])
    except (struct.error, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        result.problems.append(f"corrupted at byte {frame.offset}: blob frame header")
        return 0
    content = frame.payload[4 + size:]
    if hashlib.sha256(content).hexdigest() != sha:
        result.problems.append(f"blob {sha[:12]} at byte {frame.offset} does not match its "
                               "sha256; skipped")
        return 0
    if sha not in missing:
        return 0
    log.put_blob(content, mime)
    missing.discard(sha)
    return 1
