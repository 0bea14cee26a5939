"""A backup or a restore killed (SIGKILL) while it writes leaves no file behind; the next one works.

Real processes (``python -m facewarden.cli``) on a SQLite deployment padded to
about 20 MB. The test waits until the process holds its unnamed file open
(``/proc/<pid>/fd`` links to ``<directory>/#<inode> (deleted)``: an
``O_TMPFILE``), kills it there, and looks at the directory. A scratch copy a
killed backup may leave in the data directory is removed by the next backup.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from facewarden.config import Settings
from facewarden.service import Warden, private_files
from facewarden.types import Face

from ._deployments import enroll_all, pad_subjects

PADDING_SUBJECTS = 5_000

pytestmark = pytest.mark.slow


def _holds_unnamed_file(pid: int, directory: Path) -> bool:
    try:
        for entry in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(entry)
            if target.startswith(f"{directory}/#") and target.endswith(" (deleted)"):
                return True
    except OSError:  # the process or one of its descriptors is gone
        pass
    return False


def _killed_while_writing(env: dict[str, str], directory: Path, *args: str) -> bool:
    """Run the CLI with ``args``; SIGKILL it once it holds an unnamed file in ``directory``.

    False when the command ended first.
    """
    command = [sys.executable, "-m", "facewarden.cli", *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if _holds_unnamed_file(process.pid, directory):
                process.send_signal(signal.SIGKILL)
                return process.wait() == -signal.SIGKILL
            time.sleep(0.0005)
        return False
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        assert process.stderr is not None
        process.stderr.close()


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "facewarden.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_killed_backup_or_restore_leaves_nothing(
    johns: dict[str, list[list[Face]]], tmp_path: Path
) -> None:
    fd, _ = private_files._open_unnamed(tmp_path)
    if fd < 0:
        pytest.skip("this file system has no unnamed files (O_TMPFILE)")
    os.close(fd)
    keys = tmp_path / "keys"
    live = Settings(data_dir=tmp_path / "live", key_dir=keys, enroll_mode="fast")
    with Warden.open(live, create=True, actor="test:kill") as warden:
        subjects = len(enroll_all(warden, johns)) + PADDING_SUBJECTS
        pad_subjects(warden, PADDING_SUBJECTS)
    env = {**os.environ, "FACEWARDEN_DATA_DIR": str(live.data_dir), "FACEWARDEN_KEY_DIR": str(keys)}
    out = tmp_path / "out"
    out.mkdir()
    archive = out / "site.fwbackup"

    assert _killed_while_writing(env, out, "backup", str(archive))
    assert list(out.iterdir()) == []
    _cli(env, "backup", str(archive))
    assert [p.name for p in out.iterdir()] == [archive.name]
    assert [p for p in live.data_dir.iterdir() if p.name.startswith(".facewarden-scratch-")] == []

    restored = tmp_path / "restored"
    env["FACEWARDEN_DATA_DIR"] = str(restored)
    assert _killed_while_writing(env, restored, "restore", str(archive))
    assert list(restored.iterdir()) == []
    assert f"{subjects} subject(s)" in _cli(env, "restore", str(archive))
