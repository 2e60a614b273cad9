"""Signed sync requests and responses: mutual authentication with node keys.

Every sync request carries four headers::

    X-Fieldkit-Node   the sender's node name
    X-Fieldkit-Time   the sender's wall clock, milliseconds
    X-Fieldkit-Nonce  32 random hex digits, never reused
    X-Fieldkit-Sig    Ed25519 signature (base64) over method, path, addressee, sender,
                      time, nonce and the body's sha256

The receiver refuses (nothing is read or written) with:

- 401 when the sender is not proven: headers missing or malformed, the signature does not
  match the claimed node's key (impersonation), the time is outside the allowed skew, the
  nonce was seen before (replay), or the request is addressed to another node;
- 403 when the claimed node is not in the fleet (unknown) or has been revoked.

Each response is signed too, over the request's nonce and the response body, so the
client knows it talked to the peer it meant (mutual authentication) and that the answer
belongs to its request. Messages never contain keys or signatures.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping

from fieldkit.hlc import wall_ms
from fieldkit.identity import NodeIdentity
from sync.errors import AuthError
from sync.roster import Trust

NODE = "X-Fieldkit-Node"
TIME = "X-Fieldkit-Time"
NONCE = "X-Fieldkit-Nonce"
SIG = "X-Fieldkit-Sig"
_REQUEST_CONTEXT = b"fieldkit/sync-request/v1\x00"
_RESPONSE_CONTEXT = b"fieldkit/sync-response/v1\x00"
_NONCE_RE = re.compile(r"^[0-9a-f]{32}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
MAX_NONCES = 200_000


def _request_message(method: str, path: str, to: str, node: str, time_ms: str, nonce: str,
                     body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return _REQUEST_CONTEXT + "\n".join(
        [method.upper(), path, to, node, time_ms, nonce, digest]).encode()


def _response_message(node: str, nonce: str, status: int, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return _RESPONSE_CONTEXT + "\n".join([node, nonce, str(status), digest]).encode()


def sign_request(identity: NodeIdentity, method: str, path: str, to: str, body: bytes,
                 now_ms: int | None = None) -> dict[str, str]:
    """Headers that authenticate ``body`` sent by ``identity`` to node ``to``."""
    time_ms = str(wall_ms() if now_ms is None else now_ms)
    nonce = secrets.token_hex(16)
    sig = identity.sign(_request_message(method, path, to, identity.name, time_ms, nonce, body))
    return {NODE: identity.name, TIME: time_ms, NONCE: nonce,
            SIG: base64.b64encode(sig).decode("ascii")}


def sign_response(identity: NodeIdentity, nonce: str, status: int,
                  body: bytes) -> dict[str, str]:
    sig = identity.sign(_response_message(identity.name, nonce, status, body))
    return {NODE: identity.name, SIG: base64.b64encode(sig).decode("ascii")}


def _signature(headers: Mapping[str, str]) -> bytes | None:
    try:
        sig = base64.b64decode(headers.get(SIG, ""), validate=True)
    except (binascii.Error, ValueError):
        return None
    return sig if len(sig) == 64 else None


def verify_response(trust: Trust, peer: str, nonce: str, status: int,
                    headers: Mapping[str, str], body: bytes) -> None:
    """Raise AuthError(401) unless ``peer`` signed this response to our request ``nonce``."""
    node = headers.get(NODE, "")
    if node != peer:
        raise AuthError(401, f"response is from {node or 'an unnamed node'!r}, "
                             f"not the peer {peer!r}")
    sig = _signature(headers)
    if sig is None or not trust.keyring().verify(
            peer, sig, _response_message(peer, nonce, status, body)):
        raise AuthError(401, f"response is not signed by {peer}'s key")


class RequestVerifier:
    """Checks signed requests addressed to this node; remembers nonces against replay.

    :param trust: who may sync (keys, revocations).
    :param max_skew_ms: requests whose time differs more from ours are refused.
    :param clock: wall-clock milliseconds.
    """

    def __init__(self, trust: Trust, max_skew_ms: int,
                 clock: Callable[[], int] = wall_ms) -> None:
        self._trust = trust
        self._skew = max_skew_ms
        self._clock = clock
        self._seen: OrderedDict[str, int] = OrderedDict()  # nonce -> expiry, oldest first

    def precheck(self, headers: Mapping[str, str]) -> None:
        """Refuse before the body is read: headers missing, or the node unknown or revoked."""
        self._claimed(headers)

    def _claimed(self, headers: Mapping[str, str]) -> tuple[str, str, str]:
        node, time_ms, nonce = headers.get(NODE), headers.get(TIME), headers.get(NONCE)
        if node is None or time_ms is None or nonce is None or SIG not in headers:
            raise AuthError(401, "sync request is not signed: X-Fieldkit-Node, -Time, -Nonce "
                                 "and -Sig headers are required")
        if not _NAME_RE.match(node):
            raise AuthError(401, "X-Fieldkit-Node is not a node name")
        if not time_ms.isdigit() or not _NONCE_RE.match(nonce):
            raise AuthError(401, "X-Fieldkit-Time must be milliseconds and X-Fieldkit-Nonce "
                                 "32 hex digits")
        status = self._trust.status(node)
        if status == "revoked":
            raise AuthError(403, f"node {node} is revoked in the fleet roster")
        if status == "unknown":
            raise AuthError(403, f"node {node} is not in the fleet roster or trusted keys")
        return node, time_ms, nonce

    def verify(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> str:
        """The authenticated sender's name, or AuthError(401/403)."""
        node, time_ms, nonce = self._claimed(headers)
        sig = _signature(headers)
        me = self._trust.identity.name
        message = _request_message(method, path, me, node, time_ms, nonce, body)
        if sig is None or not self._trust.keyring().verify(node, sig, message):
            raise AuthError(401, f"signature does not match node {node}'s key for a request "
                                 f"to {me}")
        now = self._clock()
        if abs(now - int(time_ms)) > self._skew:
            raise AuthError(401, f"request time is {abs(now - int(time_ms)) // 1000} s away "
                                 f"from this node's clock (limit {self._skew // 1000} s)")
        self._expire(now)
        if nonce in self._seen:
            raise AuthError(401, "request replayed: its nonce was already used")
        self._seen[nonce] = int(time_ms) + self._skew
        return node

    def _expire(self, now: int) -> None:
        while self._seen and (len(self._seen) >= MAX_NONCES
                              or next(iter(self._seen.values())) < now):
            self._seen.popitem(last=False)
