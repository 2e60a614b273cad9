"""Making a node directory: `fieldkit init` writes the config, the key and the API token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from fieldkit.config import CONFIG_FILE, parse_config, validate_config
from fieldkit.errors import ConfigError, IdentityError
from fieldkit.identity import NodeIdentity, write_secret_file

CONFIG_TEMPLATE = """\
# fieldkit node configuration. Every key is documented; `fieldkit node run` refuses
# unknown keys and out-of-range values with a message naming them.

[node]
# Unique name in the fleet: the origin of every event this node writes.
name = "{name}"
# "truck" for a command truck, "hq" for headquarters.
role = "{role}"
# Ed25519 private key (PEM, mode 0600). Never share it; share the public key instead.
key_file = "node.key"
# The incident log (SQLite, WAL). Keep it on the truck's most reliable disk.
database = "fieldkit.db"

[api]
# Local API for the crew console, the CLI and other parts of the node.
# Binding beyond loopback (e.g. "0.0.0.0") makes every request need the bearer token.
host = "127.0.0.1"
port = 8470
# Bearer token file (mode 0600), created by `fieldkit init`.
token_file = "api.token"
# Request bodies larger than this (bytes) are refused with 413.
max_body_bytes = 1048576

[trust]
# Nodes whose events this node accepts: name = "base64 Ed25519 public key".
# `fieldkit init` prints this node's public key for the other nodes' configs.
[trust.nodes]

[logging]
# DEBUG, INFO, WARNING or ERROR.
level = "INFO"
"""


@dataclass(frozen=True)
class InitResult:
    config_path: Path
    key_path: Path
    token_path: Path
    public_key: str


def init_node_dir(node_dir: Path, *, role: str, name: str) -> InitResult:
    """Create ``node_dir`` with a commented config, a new node key and an API token.

    Refuses to touch a directory that already holds a config or key.
    """
    text = CONFIG_TEMPLATE.format(name=name, role=role)

    config = validate_config(parse_config(text), node_dir)  # same checks as at load time
    config_path = node_dir / CONFIG_FILE
    key_path = config.path(config.node.key_file)
    token_path = config.path(config.api.token_file)
    for path in (config_path, key_path, token_path):
        if path.exists():
            raise ConfigError(f"{path} already exists: {node_dir} is already initialised")
    node_dir.mkdir(parents=True, exist_ok=True)
    node_dir.chmod(0o700)  # keys, token and the database: the node's user only
    identity = NodeIdentity.generate(name)
    try:
        identity.save(key_path)
        write_secret_file(token_path, secrets.token_urlsafe(32).encode() + b"\n")
    except IdentityError as exc:
        raise ConfigError(str(exc)) from exc
    config_path.write_text(text, encoding="utf-8")
    return InitResult(config_path, key_path, token_path, identity.public_key_b64)
