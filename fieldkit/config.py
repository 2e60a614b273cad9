"""The node's configuration: one typed model, loaded from ``fieldkit.toml``.

Loading is three steps, as in Frigate: :func:`read_config_text` finds the file,
:func:`parse_config` reads TOML, :func:`validate_config` checks it against
:class:`Config`. Each step raises :class:`~fieldkit.errors.ConfigError` with a
message that names the key, the value received and what is expected.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fieldkit.errors import ConfigError

CONFIG_FILE = "fieldkit.toml"

NodeName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$",
        description="1-32 letters, digits, '-' or '_', starting with a letter or digit",
    ),
]


class _Section(BaseModel):
    # extra="forbid": a typo in a key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSection(_Section):
    name: NodeName = Field(title="Node name", description="Unique in the fleet, e.g. T07 or HQ")
    role: Literal["truck", "hq"] = Field(title="Role", description="'truck' or 'hq'")
    key_file: Path = Field(
        Path("node.key"), title="Key file", description="Ed25519 private key (PEM, mode 0600)"
    )
    database: Path = Field(
        Path("fieldkit.db"), title="Database", description="SQLite file of the incident log"
    )


class ApiSection(_Section):
    host: str = Field(
        "127.0.0.1",
        title="Bind address",
        description="Address of the local API; anything but loopback requires a token",
    )
    port: int = Field(8470, ge=0, le=65535, title="Port", description="0 picks a free port")
    token_file: Path = Field(
        Path("api.token"),
        title="Token file",
        description="Bearer token clients must send when the API is bound beyond loopback",
    )
    max_body_bytes: int = Field(
        1 << 20,
        ge=1024,
        le=64 << 20,
        title="Largest request body",
        description="Larger bodies are refused with 413",
    )

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)


class TrustSection(_Section):
    nodes: dict[NodeName, str] = Field(
        default_factory=dict,
        title="Trusted nodes",
        description="Node name -> base64 Ed25519 public key, as `fieldkit init` prints it",
    )


class LoggingSection(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", title="Log level", description="DEBUG, INFO, WARNING or ERROR"
    )


class Config(_Section):
    """The whole configuration of one node."""

    node: NodeSection
    api: ApiSection = Field(default_factory=ApiSection)
    trust: TrustSection = Field(default_factory=TrustSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    base_dir: Path = Field(
        Path("."),
        exclude=True,
        title="Node directory",
        description="Directory the config was read from; relative paths resolve against it",
    )

    @model_validator(mode="after")
    def _own_key_not_in_trust(self) -> Config:
        if self.node.name in self.trust.nodes:
            raise ValueError(
                f"trust.nodes: lists this node's own name {self.node.name!r}; "
                "a node always trusts its own key, remove the entry"
            )
        return self

    def path(self, relative: Path) -> Path:
        """Resolve a path from the config against the node directory."""
        return relative if relative.is_absolute() else self.base_dir / relative


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_config_text(node_dir: Path) -> str:
    path = node_dir / CONFIG_FILE
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no config at {path}: run `fieldkit init --role truck --name NAME --dir {node_dir}`"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def parse_config(text: str, source: str = CONFIG_FILE) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc


def validate_config(data: dict[str, Any], base_dir: Path, source: str = CONFIG_FILE) -> Config:
    try:
        return Config.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + "; ".join(_describe(e) for e in exc.errors())) from exc


def load_config(node_dir: Path) -> Config:
    """Read, parse and validate ``fieldkit.toml`` in ``node_dir``."""
    source = str(node_dir / CONFIG_FILE)
    data = parse_config(read_config_text(node_dir), source)
    if "base_dir" in data:
        raise ConfigError(f"{source}: base_dir: unknown key; the node directory is implied")
    return validate_config(data, node_dir, source)


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "missing":
        return f"{key}: missing, a value is required"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] == "value_error":  # from a model_validator: the message names the key
        return str(error["msg"]).removeprefix("Value error, ")
    return f"{key}: {error['input']!r} is invalid: {error['msg']}"
