"""Helpers of the sensors tests: a CA for the broker, the test zones' [sensors] section."""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fieldkit.config import Config
from sensors.broker import BrokerTls
from sensors.config import SensorsSection

_SESSIONS = itertools.count()
USER, PASSWORD = "fieldkit-t01", "s3cret-broker-pass"


def _pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def make_tls(directory: Path) -> BrokerTls:
    """A CA and a certificate for 127.0.0.1 signed by it (ECDSA P-256, one day)."""
    now = dt.datetime.now(dt.UTC)
    HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fieldkit test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - HOUR).not_valid_after(now + DAY)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - HOUR).not_valid_after(now + DAY)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    key_path = _pem(directory / "broker.key", key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_path.chmod(0o600)
    return BrokerTls(_pem(directory / "ca.pem", ca.public_bytes(pem)),
                     _pem(directory / "broker.pem", cert.public_bytes(pem)), key_path)


def turnstile_zone(port: int, **mqtt: Any) -> dict[str, Any]:
    """A gated concourse (200 m², 4 m of exits) with turnstiles in and out and a
    people counter, and a neighbouring plaza; sensors publish under test/<id>."""
    sensor = {"expected_interval_s": 5}
    return {
        "enabled": True,
        "push_token": "push-token-0123456789",
        "dwell_s": 1.0,
        # Its own persistent session per test: what one test's node left unacknowledged
        # at stop is redelivered to the next node with that client id (at least once).
        "mqtt": {"port": port, "client_id": f"test-{next(_SESSIONS)}", **mqtt},
        "zones": [{"name": "concourse", "area_m2": 200, "exit_width_m": 4,
                   "neighbours": ["plaza"], "position": [48.58, 7.75]},
                  {"name": "plaza", "area_m2": 1000, "exit_width_m": 20}],
        "sensors": [
            {"id": "gate-in", "kind": "turnstile_in", "zone": "concourse",
             "topic": "test/gate-in", **sensor},
            {"id": "gate-out", "kind": "turnstile_out", "zone": "concourse",
             "topic": "test/gate-out", **sensor},
            {"id": "concourse-count", "kind": "people_count", "zone": "concourse",
             "topic": "test/concourse-count", **sensor},
            {"id": "plaza-count", "kind": "people_count", "zone": "plaza",
             "topic": "test/plaza-count", **sensor},
        ],
    }


def with_sensors(config: Config, section: dict[str, Any]) -> Config:
    return config.model_copy(update={"sensors": SensorsSection.model_validate(section)})
