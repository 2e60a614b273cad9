"""`fieldkit init` and the config model: every bad value named, with what is expected."""

from __future__ import annotations

import stat

import pytest
from click.testing import CliRunner

from fieldkit.cli import main
from fieldkit.config import CONFIG_FILE, load_config, validate_config
from fieldkit.errors import ConfigError
from fieldkit.nodedir import init_node_dir


def test_init_writes_a_commented_config_key_and_token(tmp_path):
    result = CliRunner().invoke(main, ["init", "--role", "hq", "--name", "HQ",
                                       "--dir", str(tmp_path / "hq")])
    assert result.exit_code == 0, result.output
    node_dir = tmp_path / "hq"
    text = (node_dir / CONFIG_FILE).read_text()
    assert text.count("\n# ") + text.count("\n#") >= 10  # every key is explained
    config = load_config(node_dir)
    assert (config.node.name, config.node.role) == ("HQ", "hq")
    assert config.api.host == "127.0.0.1"
    for secret in ("node.key", "api.token"):
        assert stat.S_IMODE((node_dir / secret).stat().st_mode) == 0o600
    key_pem = (node_dir / "node.key").read_text()
    assert "PRIVATE KEY" in key_pem
    assert key_pem not in result.output  # the private key is never printed
    assert "public key" in result.output


def test_init_refuses_to_overwrite(node_dir):
    key = (node_dir / "node.key").read_bytes()
    with pytest.raises(ConfigError, match=r"already exists: .* is already initialised"):
        init_node_dir(node_dir, role="truck", name="T01")
    assert (node_dir / "node.key").read_bytes() == key


@pytest.mark.parametrize(("name", "message"), [
    ("T 07", "node.name: 'T 07' is invalid: String should match pattern"),
    ("", "node.name: '' is invalid"),
])
def test_init_refuses_bad_names(tmp_path, name, message):
    with pytest.raises(ConfigError, match=message):
        init_node_dir(tmp_path / "x", role="truck", name=name)
    assert not (tmp_path / "x").exists()


def _write(node_dir, old: str, new: str) -> None:
    path = node_dir / CONFIG_FILE
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(("old", "new", "message"), [
    ('role = "truck"', 'role = "boat"',
     r"node.role: 'boat' is invalid: Input should be 'truck' or 'hq'"),
    ("port = 8470", "port = 99999",
     r"api.port: 99999 is invalid: Input should be less than or equal to 65535"),
    ("port = 8470", 'port = "http"',
     r"api.port: 'http' is invalid: Input should be a valid integer"),
    ('level = "INFO"', 'level = "LOUD"', r"logging.level: 'LOUD' is invalid"),
    ("max_body_bytes = 1048576", "max_body_bytes = 10",
     r"api.max_body_bytes: 10 is invalid: Input should be greater than or equal to 1024"),
    ('host = "127.0.0.1"', 'host = "127.0.0.1"\nhots = "x"', r"api.hots: unknown key"),
    ('name = "T01"', "", r"node.name: missing, a value is required"),
    ("[trust.nodes]", '[trust.nodes]\nT01 = "AAAA"', r"trust.nodes: lists this node's own name"),
    ("[api]", "[api\n", r"not valid TOML"),
])
def test_invalid_config_names_key_value_and_expectation(node_dir, old, new, message):
    _write(node_dir, old, new)
    with pytest.raises(ConfigError, match=message):
        load_config(node_dir)
    result = CliRunner().invoke(main, ["incident", "list", "--dir", str(node_dir)])
    assert result.exit_code == 1
    assert "Error:" in result.output
    assert "Traceback" not in result.output


def test_missing_config_says_how_to_make_one(tmp_path):
    result = CliRunner().invoke(main, ["incident", "list", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no config at" in result.output
    assert "fieldkit init --role truck --name NAME" in result.output


def test_untrusted_public_key_is_reported(node_dir):
    _write(node_dir, "[trust.nodes]", '[trust.nodes]\nT02 = "not-base64!"')
    result = CliRunner().invoke(main, ["incident", "list", "--dir", str(node_dir)])
    assert result.exit_code == 1
    assert "public key 'not-base64!' is not base64" in result.output


def test_template_defaults_equal_model_defaults(node_dir):
    loaded = load_config(node_dir)
    assert loaded == validate_config({"node": {"name": "T01", "role": "truck"}}, node_dir)


def test_remote_binding_needs_a_readable_token(node_dir):
    from fieldkit.api import create_app

    _write(node_dir, 'host = "127.0.0.1"', 'host = "0.0.0.0"')  # never bound in this test
    (node_dir / "api.token").unlink()
    with pytest.raises(ConfigError, match=r"not loopback, so api\.token_file is required"):
        create_app(load_config(node_dir))
