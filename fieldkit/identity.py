"""Node identity: the Ed25519 key made at `fieldkit init`, and the keyring of trusted nodes.

A node's name is its origin id in the incident log; the keyring maps names to public
keys, so a relayed event is checked against its author's key, never the relay's.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from fieldkit.errors import IdentityError


def encode_public_key(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def decode_public_key(text: str) -> Ed25519PublicKey:
    """Parse a base64 raw Ed25519 public key (32 bytes)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise IdentityError(f"public key {text!r} is not base64") from exc
    if len(raw) != 32:
        raise IdentityError(f"public key {text!r} is {len(raw)} bytes; Ed25519 keys are 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def write_secret_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600; never overwrite an existing secret."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise IdentityError(f"{path} already exists; refusing to overwrite a secret") from exc
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class NodeIdentity:
    """A node's name and private key. ``repr`` and ``str`` never show key material."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.name = name
        self._private_key = private_key
        self.public_key = private_key.public_key()

    @classmethod
    def generate(cls, name: str) -> NodeIdentity:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, name: str, path: Path) -> NodeIdentity:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IdentityError(f"cannot read node key {path}: {exc.strerror}") from exc
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            # The parser's message may quote the file; say only what is wrong.
            raise IdentityError(f"node key {path} is not a PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise IdentityError(f"node key {path} is not an Ed25519 key")
        return cls(name, key)

    def save(self, path: Path) -> None:
        pem = self._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_secret_file(path, pem)

    @property
    def public_key_b64(self) -> str:
        return encode_public_key(self.public_key)

    def sign(self, data: bytes) -> bytes:
        return self._private_key.sign(data)

    def __repr__(self) -> str:
        return f"NodeIdentity(name={self.name!r}, public_key={self.public_key_b64!r})"


class Keyring:
    """The public keys of the nodes whose events this node accepts."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_names(cls, own: NodeIdentity, trusted: Mapping[str, str]) -> Keyring:
        """Own key plus ``trusted`` (name -> base64 public key, as in the config)."""
        keys = {name: decode_public_key(text) for name, text in trusted.items()}
        keys[own.name] = own.public_key
        return cls(keys)

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def names(self) -> list[str]:
        return sorted(self._keys)

    def verify(self, name: str, signature: bytes, data: bytes) -> bool:
        key = self._keys.get(name)
        if key is None:
            return False
        try:
            key.verify(signature, data)
        except InvalidSignature:
            return False
        return True
