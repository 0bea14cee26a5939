"""Acceptance 5: schemathesis against the live OpenAPI document, with a valid admin key.

Every operation of the document, in every phase (coverage of boundary and
wrong values, random fuzzing, stateful sequences), with every check but one:
no 5xx, every status code and content type and header as documented, every
response body valid against its schema, unauthenticated requests refused,
and 405s naming exactly the allowed methods. Bounded: 10 examples per
operation and a fixed seed (about 15 s here).

The check left out is ``positive_data_acceptance`` ("a request the schema
allows must be accepted"): facewarden validates more than a JSON schema can
say (printable text only, a record that is a JSON object of known fields,
real base64, real images), and answers those with a 4xx on purpose.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ._live import LiveServer

EXAMPLES_PER_OPERATION = 10


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("schemathesis is not installed")
    return found


def test_schemathesis_finds_nothing(live: LiveServer, tmp_path: Path) -> None:
    command = [
        _schemathesis(),
        "run",
        f"{live.url}/openapi.json",
        "--header",
        f"X-API-Key: {live.keys['admin']}",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        "20260301",
        "--workers",
        "1",
        "--no-shrink",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--no-color",
    ]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
