"""Every command and group answers ``--help`` (and ``-h``) with exit 0 and says what it does."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from facewarden.cli import cli


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None
            yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(cli))


def test_the_tree_is_walked() -> None:
    assert ("subjects", "faces", "replace") in COMMANDS and len(COMMANDS) > 40


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_helps(flag: str) -> None:
    runner = CliRunner()
    unhelpful = []
    for path in COMMANDS:
        result = runner.invoke(cli, [*path, flag])
        lines = [line for line in result.output.splitlines() if line.strip()]
        # "Usage: ...", then the first line of the command's own description.
        if result.exit_code != 0 or len(lines) < 2 or lines[1].strip().startswith("Options"):
            unhelpful.append(" ".join(path) or "facewarden")
    assert unhelpful == []


def test_every_summary_in_a_command_list_reads_whole() -> None:
    # Found by hand: `facewarden --help` listed processing-report as "The records of
    # processing (GDPR Art.": click cuts a summary at its first full stop.
    cut = []
    for path in COMMANDS:
        context = click.Context(cli)
        command: click.Command = cli
        for name in path:
            assert isinstance(command, click.Group)
            found = command.get_command(context, name)
            assert found is not None
            command = found
        summary = command.get_short_help_str(limit=1000)
        if summary.count("(") != summary.count(")"):
            cut.append(f"{' '.join(path)}: {summary}")
    assert cut == []
