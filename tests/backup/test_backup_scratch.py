"""A backup killed during SQLite's own copy leaves a scratch copy that goes at the next step.

Real ``python -m facewarden.cli backup`` processes on a SQLite deployment
padded to about 20 MB, SIGKILLed while SQLite's backup API writes its copy
into a private scratch folder of the data directory. The copy holds what the
database holds (pseudonymous ids in clear, every personal field encrypted),
no more; and it is overwritten and removed at the next open, the next backup
or the next purge, whichever comes first, while a live backup's folder is
left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from facewarden.config import Settings
from facewarden.service import Warden
from facewarden.service.private_files import scratch_dir, sweep_scratch
from facewarden.store import DB_NAME
from facewarden.types import Face

from ._deployments import MARKER, enroll_all, pad_subjects

PADDING_SUBJECTS = 5_000
SCRATCH = ".facewarden-scratch-"
ATTEMPTS = 6

pytestmark = pytest.mark.slow


def _copies(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.glob(f"{SCRATCH}*/copy.db") if p.is_file()]


def _kill_during_the_copy(env: dict[str, str], data_dir: Path, archive: Path) -> Path | None:
    """Run ``backup``; SIGKILL it while SQLite's copy is in its scratch folder; that copy.

    None when the copy was gone (or the backup over) before the kill.
    """
    command = [sys.executable, "-m", "facewarden.cli", "backup", str(archive)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while process.poll() is None and time.monotonic() < deadline:
            found = _copies(data_dir)
            if found and found[0].stat().st_size > 0:
                process.send_signal(signal.SIGKILL)
                assert process.wait() == -signal.SIGKILL
                left = _copies(data_dir)
                return left[0] if left else None
            time.sleep(0.0002)
        return None
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        assert process.stderr is not None
        process.stderr.close()


def _stale_copy(env: dict[str, str], data_dir: Path, archive: Path) -> Path:
    for _ in range(ATTEMPTS):
        copy = _kill_during_the_copy(env, data_dir, archive)
        if copy is not None:
            return copy
        sweep_scratch(data_dir)  # an empty folder left: try again for one with the copy
    pytest.fail(f"no kill out of {ATTEMPTS} landed while SQLite's copy was in its folder")


@pytest.fixture
def deployment(johns: dict[str, list[list[Face]]], tmp_path: Path) -> tuple[Settings, list[str]]:
    settings = Settings(
        data_dir=tmp_path / "data", key_dir=tmp_path / "keys", enroll_mode="fast", workers=1
    )
    with Warden.open(settings, create=True, actor="test:scratch") as warden:
        ids = list(enroll_all(warden, johns).values())
        pad_subjects(warden, PADDING_SUBJECTS)
    return settings, ids


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "FACEWARDEN_DATA_DIR": str(settings.data_dir),
        "FACEWARDEN_KEY_DIR": str(settings.resolved_key_dir),
    }


def test_a_copy_left_by_a_killed_backup_holds_no_more_than_the_store_and_goes_at_open(
    deployment: tuple[Settings, list[str]], tmp_path: Path
) -> None:
    settings, _ = deployment
    copy = _stale_copy(_env(settings), settings.data_dir, tmp_path / "a.fwbackup")
    assert not (tmp_path / "a.fwbackup").exists()
    assert copy.parent.stat().st_mode & 0o777 == 0o700
    # No more than the store holds: past its header, every page of the copy that
    # was written is one of the database's own pages (checkpointed, as the
    # backup API reads it through the WAL); what people typed is in neither.
    held = copy.read_bytes()
    database = settings.data_dir / DB_NAME
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stored = database.read_bytes()
    size = int.from_bytes(stored[16:18], "big")
    size = 65536 if size == 1 else size
    own = {stored[at : at + size] for at in range(0, len(stored), size)}
    written = [held[at : at + size] for at in range(size, len(held), size)]
    written = [page for page in written if any(page)]
    assert written, "the killed copy holds no page to look at"
    assert not [page for page in written if page not in own]
    assert MARKER.encode() not in held and MARKER.encode() not in stored
    with open(copy, "rb") as kept:  # a reader's view of the file's blocks after the sweep
        with Warden.open(settings, actor="test:restart"):
            assert list(settings.data_dir.glob(f"{SCRATCH}*")) == []
        after = kept.read()
    assert len(after) == len(held) and after.count(0) == len(after)  # overwritten, then unlinked


def test_a_stale_copy_goes_at_the_next_backup_and_the_next_purge(
    deployment: tuple[Settings, list[str]], tmp_path: Path
) -> None:
    settings, _ = deployment
    env = _env(settings)
    _stale_copy(env, settings.data_dir, tmp_path / "a.fwbackup")
    done = subprocess.run(
        [sys.executable, "-m", "facewarden.cli", "backup", str(tmp_path / "b.fwbackup")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert list(settings.data_dir.glob(f"{SCRATCH}*")) == []
    # A long-running server (a deployment open all along) purges: the copy a backup
    # killed meanwhile goes with what expires.
    with Warden.open(settings, actor="test:server") as server:
        _stale_copy(env, settings.data_dir, tmp_path / "c.fwbackup")
        server.purge()
        assert list(settings.data_dir.glob(f"{SCRATCH}*")) == []


def test_a_live_backups_scratch_folder_is_left_alone(tmp_path: Path) -> None:
    with scratch_dir(tmp_path) as scratch:
        (scratch / "copy.db").write_bytes(b"pages being copied")
        assert sweep_scratch(tmp_path) == 0
        assert (scratch / "copy.db").read_bytes() == b"pages being copied"
    assert list(tmp_path.iterdir()) == []
