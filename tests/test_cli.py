"""The CLI: every command works on a real node directory, and says clearly what is wrong."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fieldkit.cli import main


@pytest.fixture
def cli(node_dir):
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, [*args, "--dir", str(node_dir)])

    return run


def _add(cli) -> str:
    result = cli("incident", "add", "--title", "Crush at gate 3", "--kind", "crowd_density",
                 "--severity", "4", "--lat", "21.4225", "--lon", "39.8726", "--accuracy", "5")
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_incident_commands_end_to_end(cli, tmp_path):
    incident_id = _add(cli)
    short = incident_id[:13]
    for args in (("ack", short), ("assign", short, "medical", "M-12"),
                 ("status", short, "dispatched", "--reason", "M-12 rolling"),
                 ("note", short, "two casualties"), ("set", short, "--severity", "5"),
                 ("link", short, "camera", "gate3-north")):
        result = cli("incident", *args)
        assert result.exit_code == 0, result.output
    snap = tmp_path / "snap.jpg"
    snap.write_bytes(b"\xff\xd8fake")
    assert cli("incident", "attach", short, str(snap)).exit_code == 0
    shown = cli("incident", "show", short)
    assert "Crush at gate 3" in shown.output
    assert "dispatched" in shown.output
    assert "(M-12 rolling)" in shown.output
    assert "medical:M-12" in shown.output
    assert "camera gate3-north" in shown.output
    assert "snap.jpg (image/jpeg, 6 bytes)" in shown.output
    listed = cli("incident", "list")
    assert incident_id[-8:] in listed.output  # the random tail is the short id
    as_json = json.loads(cli("incident", "show", short, "--json").output)
    assert (as_json["severity"], as_json["status"]) == (5, "dispatched")
    assert cli("incident", "list", "--status", "closed").output.strip() == "no incidents"
    removed = cli("incident", "assign", short, "medical", "M-12", "--remove")
    assert "none assigned" in removed.output


@pytest.mark.parametrize("fmt", ["json", "csv", "geojson"])
def test_export_formats(cli, tmp_path, fmt):
    _add(cli)
    out = tmp_path / f"incidents.{fmt}"
    result = cli("incident", "export", "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    if fmt == "csv":
        header, row = text.splitlines()
        assert header.startswith("id,title,kind,severity,status")
        assert "Crush at gate 3" in row
    else:
        data = json.loads(text)
        if fmt == "geojson":
            feature = data["features"][0]
            assert data["type"] == "FeatureCollection"
            assert feature["geometry"] == {"type": "Point", "coordinates": [39.8726, 21.4225]}
        else:
            assert data[0]["title"] == "Crush at gate 3"


@pytest.mark.parametrize(("args", "code", "message"), [
    (("incident", "add", "--title", "x", "--kind", "riot", "--severity", "3"), 2,
     "Invalid value for '--kind': 'riot' is not one of"),
    (("incident", "add", "--title", "x", "--kind", "fire", "--severity", "9"), 2,
     "9 is not in the range 1<=x<=5"),
    (("incident", "add", "--title", "", "--kind", "fire", "--severity", "3"), 1,
     "title: String should have at least 1 character"),
    (("incident", "add", "--title", "x", "--kind", "fire", "--severity", "3", "--lat", "21"),
     1, "lat and lon go together"),
    (("incident", "add", "--title", "x", "--kind", "fire", "--severity", "3", "--lat", "91",
      "--lon", "0"), 1, "lat: Input should be less than or equal to 90"),
    (("incident", "show", "ffffffff"), 1, "no incident 'ffffffff'"),
    (("incident", "show", "ff"), 1, "too short"),
    (("incident", "ack", "ffffffff"), 1, "no incident 'ffffffff'"),
    (("incident", "status", "ffffffff", "sleeping"), 2, "'sleeping' is not one of"),
    (("incident", "assign", "ffffffff", "army", "A1"), 2, "'army' is not one of"),
    (("incident", "note", "ffffffff", "hello"), 1, "no incident 'ffffffff'"),
    (("incident", "set", "ffffffff"), 2, "give at least one of --title"),
    (("incident", "link", "ffffffff", "moon", "x"), 2, "'moon' is not one of"),
    (("incident", "export", "--format", "xml"), 2, "'xml' is not one of"),
])
def test_bad_input_is_a_clear_error(cli, args, code, message):
    _add(cli)
    before = cli("incident", "list", "--json").output
    result = cli(*args)
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output
    assert cli("incident", "list", "--json").output == before


def test_actions_that_change_nothing_are_refused(cli):
    incident_id = _add(cli)
    assert cli("incident", "ack", incident_id).exit_code == 0
    again = cli("incident", "ack", incident_id)
    assert again.exit_code == 1
    assert "is acknowledged, not new" in again.output


def _commands(group, prefix=()):
    import click

    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, path)
        else:
            yield path


@pytest.mark.parametrize("path", sorted(_commands(main)), ids=" ".join)
def test_every_command_has_help(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output
