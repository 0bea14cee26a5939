"""The CLI tests' runner: commands as a user types them, against a deployment in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from facewarden.cli import cli

Run = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """``run(*args, ok=True, stdin=None)``: the CLI against a deployment in tmp_path."""
    runner = CliRunner(
        env={"FACEWARDEN_WORKERS": "1", "FACEWARDEN_DATA_DIR": None, "FACEWARDEN_KEY_DIR": None}
    )
    where = ["--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "keys")]

    def invoke(*args: str | Path, ok: bool = True, stdin: str | None = None) -> Result:
        words = [str(a) for a in args]
        # Subcommands take the deployment options; put them after the command words.
        result = runner.invoke(cli, [*words, *where], input=stdin)
        if ok:
            assert result.exit_code == 0, (words, result.output, result.exception)
        assert "Traceback" not in result.output
        return result

    return invoke
