"""The [drones] config section: defaults, validation messages, and the signing key kept
secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drone.config import DronesSection
from drone.service import build_link, signing_key
from fieldkit.config import Config, load_config, parse_config, validate_config
from fieldkit.errors import ConfigError
from fieldkit.node import Node

BASE = '[node]\nname = "T01"\nrole = "truck"\n'


def load(text: str, base_dir: Path = Path(".")) -> Config:
    return validate_config(parse_config(BASE + text), base_dir)


def test_no_drones_by_default(node_dir):
    config = load_config(node_dir)
    assert config.section(DronesSection).links == []
    assert config.section(DronesSection).vehicles == []
    assert config.section(DronesSection).sample_s == 1.0


def test_full_section_parses():
    config = load('''
[drones]
sample_s = 0.5
battery_low_pct = 25
battery_critical_pct = 12
ground_elevation_m = 277
[drones.camera]
hfov_deg = 72
[[drones.links]]
name = "pilots"
kind = "udp_listen"
host = "0.0.0.0"
port = 14550
forward_host = "10.0.0.20"
signing_key = "field passphrase"
[[drones.links]]
name = "radio"
kind = "serial"
device = "/dev/ttyUSB0"
baud = 57600
[[drones.vehicles]]
name = "D1"
link = "pilots"
system_id = 1
[[drones.geofences]]
name = "main square"
polygon = [[21.0, 39.0], [21.0, 39.01], [21.01, 39.01]]
''')
    d = config.section(DronesSection)
    assert [link.name for link in d.links] == ["pilots", "radio"]
    assert d.links[0].forward_port == 14550
    assert d.camera.hfov_deg == 72
    assert d.geofences[0].severity == 4


@pytest.mark.parametrize(("text", "message"), [
    ('[[drones.links]]\nname = "a"\nhost = "0.0.0.0"\n',
     "drones -> links -> a: host '0.0.0.0' is not loopback, so a signing key is required"),
    ('[[drones.links]]\nname = "a"\nkind = "serial"\n',
     "drones -> links -> a: kind = serial needs device"),
    ('[[drones.links]]\nname = "a"\nkind = "tcp_connect"\nport = 0\n',
     "drones -> links -> a: kind = tcp_connect needs the port to connect to"),
    ('[[drones.links]]\nname = "a"\nsigning_key = "x"\nsigning_key_file = "k"\n',
     "drones -> links -> a: give signing_key or signing_key_file, not both"),
    ('[[drones.links]]\nname = "a"\n[[drones.links]]\nname = "a"\n',
     "drones -> links: a listed more than once"),
    ("[drones]\nbattery_low_pct = 20\nbattery_critical_pct = 20\n",
     "drones -> battery_critical_pct (20) must be below battery_low_pct (20)"),
    ('[[drones.vehicles]]\nname = "D1"\nlink = "nope"\nsystem_id = 1\n',
     "drones -> vehicles -> D1: no link named 'nope'"),
    ('[[drones.links]]\nname = "a"\nbogus = 1\n', "drones.links.0.bogus: unknown key"),
    ('[[drones.links]]\nname = "a"\nport = 70000\n', "drones.links.0.port: 70000 is invalid"),
    ('[[drones.geofences]]\nname = "g"\npolygon = [[91, 0], [0, 0], [0, 1]]\n',
     "drones -> geofences -> g: corner [91.0, 0.0] is not a [lat, lon] in degrees"),
])
def test_invalid_sections_name_the_problem(text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(text)


def test_signing_key_stays_secret(tmp_path):
    config = load('[[drones.links]]\nname = "a"\nsigning_key = "hunter2-passphrase"\n')
    link = config.section(DronesSection).links[0]
    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(link)
    assert "hunter2" not in config.model_dump_json()
    with pytest.raises(ConfigError) as info:
        load('[[drones.links]]\nname = "a"\nsigning_key = 123456789\n')
    assert "123456789" not in str(info.value)
    key = signing_key(config, link)
    assert key is not None
    assert "hunter2" not in repr(key)


def test_signing_key_file_resolves_against_the_node_dir(tmp_path):
    (tmp_path / "mav.key").write_text("ab" * 32)
    config = load('[[drones.links]]\nname = "a"\nsigning_key_file = "mav.key"\n', tmp_path)
    key = signing_key(config, config.section(DronesSection).links[0])
    assert key is not None
    assert key.secret == bytes.fromhex("ab" * 32)
    link = build_link(config, config.section(DronesSection).links[0])
    assert link.name == "a"


def test_missing_key_file_is_a_config_error(tmp_path):
    config = load('[[drones.links]]\nname = "a"\nsigning_key_file = "none.key"\n', tmp_path)
    with pytest.raises(ConfigError, match=r"cannot read signing key file .*none\.key"):
        build_link(config, config.section(DronesSection).links[0])


async def test_a_missing_key_file_stops_the_node_before_the_database_is_made(node_dir):
    """Issue 14 item 12: config and files are checked before the store is touched."""
    path = node_dir / "fieldkit.toml"
    path.write_text(path.read_text() + '\n[[drones.links]]\nname = "a"\n'
                    'signing_key_file = "none.key"\n')
    config = load_config(node_dir)
    config = config.model_copy(update={"api": config.api.model_copy(update={"port": 0})})
    with pytest.raises(ConfigError, match=r"cannot read signing key file .*none\.key"):
        await Node(config).start()
    assert not (node_dir / config.node.database).exists()
