"""Running a set-up fetch script (scripts/fetch_*.py) as `make` does, with no npm reachable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def run_without_npm(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/<script>`` with ``args`` and a PATH that holds no npm.

    What is already installed must be kept without asking npm, and a fetch
    that needs npm must say so in words (a warning, or exit 1 with --strict).
    """
    env = {**os.environ, "PATH": "/nonexistent"}
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
