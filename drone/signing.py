"""MAVLink 2 message signing: the key, and the check every received packet passes.

A signed packet ends with a 13-byte block: link id, a 48-bit timestamp (10 us units
since 2015-01-01 UTC) and the first 6 bytes of ``sha256(key + packet[:-6])``. With a key
configured, only packets whose signature matches *and* whose timestamp moves forward for
their stream (link id, system, component) are accepted; anything else is counted and
dropped.

pymavlink's own check records a stream's timestamp before comparing the signature, so a
forged packet with a far-future timestamp would lock the real sender out; here the
signature is verified first and only a good packet advances its stream.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from hashlib import sha256
from hmac import compare_digest
from pathlib import Path

from fieldkit.errors import ConfigError
from fieldkit.identity import write_secret_file

SIGNATURE_LEN = 13
IFLAG_SIGNED = 0x01
#: 2015-01-01T00:00:00Z, the MAVLink signing epoch.
EPOCH_UNIX_S = 1420070400
#: A new stream may start at most one minute behind the newest timestamp known here.
NEW_STREAM_SLACK = 60 * 100_000

_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")


class SigningKey:
    """A 32-byte MAVLink signing secret. Its repr and str never show the bytes."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise ConfigError(f"a MAVLink signing key is 32 bytes, got {len(secret)}")
        self._secret = secret

    @classmethod
    def from_text(cls, text: str) -> SigningKey:
        """64 hex digits are the key itself; anything else is a passphrase, hashed with
        SHA-256 as MAVProxy (`signing setup`) and QGroundControl do."""
        text = text.strip()
        if not text:
            raise ConfigError("the MAVLink signing key is empty")
        if _HEX_KEY.match(text):
            return cls(bytes.fromhex(text))
        return cls(hashlib.sha256(text.encode("utf-8")).digest())

    @classmethod
    def from_file(cls, path: Path) -> SigningKey:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            # Never quote the file's content: it is the secret.
            raise ConfigError(f"cannot read signing key file {path}: "
                              f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from exc
        return cls.from_text(text)

    @classmethod
    def create_file(cls, path: Path) -> SigningKey:
        """Write a new random passphrase to ``path`` (mode 0600, never over an existing
        file): the pilot types the same passphrase into MAVProxy (``signing setup``) or
        QGroundControl, which hash it as :meth:`from_text` does."""
        passphrase = secrets.token_urlsafe(24)
        write_secret_file(path, passphrase.encode() + b"\n")
        return cls.from_text(passphrase)

    @property
    def secret(self) -> bytes:
        return self._secret

    def __repr__(self) -> str:
        return "SigningKey(<secret>)"

    __str__ = __repr__


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED = "replayed"


@dataclass
class SigningStats:
    """Counters of the signature check (packets)."""

    accepted: int = 0
    unsigned: int = 0
    """No signature block (or MAVLink 1): dropped."""
    bad_signature: int = 0
    """Signature does not match the key: dropped."""
    replayed: int = 0
    """Signature good but timestamp not newer than its stream's last: dropped."""

    @property
    def dropped(self) -> int:
        return self.unsigned + self.bad_signature + self.replayed


def now_timestamp(clock: Callable[[], float] = time.time) -> int:
    """The current MAVLink signing timestamp (10 us units since 2015)."""
    return int((clock() - EPOCH_UNIX_S) * 100_000)


class SignatureCheck:
    """Verifies received packets against one key and tracks each stream's timestamp."""

    def __init__(self, key: SigningKey, clock: Callable[[], float] = time.time) -> None:
        self._key = key.secret
        self._clock = clock
        self._streams: dict[tuple[int, int, int], int] = {}
        self._newest = 0
        self.stats = SigningStats()

    def check(self, packet: bytes | bytearray, incompat_flags: int, system: int,
              component: int) -> Verdict:
        """``packet`` is the whole MAVLink packet, signature block included. Counts the
        verdict in :attr:`stats`. (Written flat: it runs for every packet received.)"""
        stats = self.stats
        if not incompat_flags & IFLAG_SIGNED or len(packet) < SIGNATURE_LEN + 12:
            stats.unsigned += 1
            return _UNSIGNED
        size = len(packet)
        expected = sha256(self._key + packet[:size - 6]).digest()[:6]
        if not compare_digest(expected, packet[size - 6:]):
            stats.bad_signature += 1
            return _BAD
        low, high = _STAMP.unpack_from(packet, size - 12)
        stamp = low | high << 32
        stream = (packet[size - 13], system, component)
        last = self._streams.get(stream)
        if last is not None:
            if stamp <= last:
                stats.replayed += 1
                return _REPLAYED
        elif stamp + NEW_STREAM_SLACK < max(self._newest, now_timestamp(self._clock)):
            stats.replayed += 1
            return _REPLAYED
        self._streams[stream] = stamp
        if stamp > self._newest:
            self._newest = stamp
        stats.accepted += 1
        return _ACCEPTED


_ACCEPTED, _UNSIGNED = Verdict.ACCEPTED, Verdict.UNSIGNED
_BAD, _REPLAYED = Verdict.BAD_SIGNATURE, Verdict.REPLAYED
_STAMP = struct.Struct("<IH")
