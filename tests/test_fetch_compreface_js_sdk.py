"""scripts/fetch_compreface_js_sdk.py: idempotent; a set-up goes on without npm (CI: --strict)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from _fetch_scripts import run_without_npm


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_without_npm("fetch_compreface_js_sdk.py", *args)


def _installed() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facewarden" / "compreface-js-sdk"


def test_an_installation_from_the_same_lock_is_kept_without_asking_npm(tmp_path: Path) -> None:
    installed = _installed()
    if not (installed / ".facewarden-lock-sha256").is_file():
        pytest.skip("the SDK is not installed here: run `make compreface-js-sdk`")
    copy = tmp_path / "sdk"
    shutil.copytree(installed, copy, symlinks=True)
    done = _run("--dest", str(copy), "--strict")
    assert done.returncode == 0, done.stderr
    assert f"@exadel/compreface-js-sdk@1.0.0 already in {copy}" in done.stdout


def test_without_npm_the_set_up_goes_on_with_a_warning_unless_strict(tmp_path: Path) -> None:
    dest = tmp_path / "sdk"
    dest.mkdir()
    (dest / "package.json").write_text("{}")  # something there, not the pinned install
    lenient = _run("--dest", str(dest))
    assert lenient.returncode == 0
    assert "npm is not installed" in lenient.stderr
    assert "test_compreface_js_sdk.py will skip" in lenient.stderr
    strict = _run("--dest", str(dest), "--strict")
    assert strict.returncode == 1
    assert (dest / "package.json").read_text() == "{}"  # nothing half-written over it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sdk"]  # no work folder left
