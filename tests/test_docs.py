"""The README documents every CLI command."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from fieldkit.cli import main

README = (Path(__file__).parent.parent / "README.md").read_text()


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, path)
        else:
            yield path


@pytest.mark.parametrize("path", sorted(_commands(main)), ids=" ".join)
def test_every_command_is_in_the_readme(path):
    assert f"fieldkit {' '.join(path)}" in README


def test_readme_opens_with_the_two_commands():
    head = README[:1500]
    assert "make demo" in head
    assert "make test" in head
