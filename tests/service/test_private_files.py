"""Files that appear only once complete, never replacing another, and leave nothing on error."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from facewarden.errors import ConflictError
from facewarden.service import private_files
from facewarden.service.private_files import created_whole, scratch_dir


@pytest.fixture(params=["unnamed", "named"])
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Both ways of writing: ``O_TMPFILE`` (Linux) and a hidden named file (elsewhere)."""
    if request.param == "named":
        monkeypatch.setattr(private_files, "_open_unnamed", lambda directory: (-1, None))
    else:
        fd, _ = private_files._open_unnamed(tmp_path)
        if fd < 0:
            pytest.skip("this file system has no unnamed files (O_TMPFILE)")
        os.close(fd)
    return str(request.param)


def test_the_file_appears_private_and_whole_only_when_the_block_ends(
    kind: str, tmp_path: Path
) -> None:
    target = tmp_path / "archive"
    with created_whole(target, exists_hint="pick another") as out:
        out.write(b"secret " * 1000)
        during = [p.name for p in tmp_path.iterdir()]
    # Unnamed: a kill at this point would leave nothing at all.
    assert during == ([] if kind == "unnamed" else [".archive.partial"])
    assert [p.name for p in tmp_path.iterdir()] == ["archive"]
    assert target.read_bytes() == b"secret " * 1000
    assert target.stat().st_mode & 0o777 == 0o600


def test_an_error_in_the_block_leaves_nothing(kind: str, tmp_path: Path) -> None:
    with (
        pytest.raises(OSError, match="disk full"),
        created_whole(tmp_path / "db", exists_hint="") as out,
    ):
        out.write(b"half of it")
        raise OSError(28, "disk full")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_never_replaced(kind: str, tmp_path: Path) -> None:
    target = tmp_path / "db"
    target.write_bytes(b"theirs")
    with (
        pytest.raises(ConflictError, match="exists; move it away"),
        created_whole(target, exists_hint="move it away"),
    ):
        pass
    with (
        pytest.raises(ConflictError, match="exists; move it away"),
        created_whole(tmp_path / "late", exists_hint="move it away") as out,
    ):
        out.write(b"mine")
        (tmp_path / "late").write_bytes(b"theirs, made meanwhile")
    assert target.read_bytes() == b"theirs"
    assert (tmp_path / "late").read_bytes() == b"theirs, made meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "late"]


def test_a_scratch_directory_is_private_and_goes_with_its_contents(tmp_path: Path) -> None:
    with scratch_dir(tmp_path) as scratch:
        assert scratch.stat().st_mode & 0o777 == 0o700
        (scratch / "copy.db").write_bytes(b"pages")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), scratch_dir(tmp_path) as scratch:
        (scratch / "copy.db").write_bytes(b"pages")
        raise RuntimeError("the backup failed")
    assert list(tmp_path.iterdir()) == []


def test_another_process_sweeping_at_once_never_takes_a_new_scratch_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two backups starting together: one's sweep runs between the other's mkdir and its lock.

    The sweep takes any directory whose lock is free for a killed process's;
    a directory just made is not locked yet. A real second process sweeps at
    that instant here (once): the directory handed out must still be there.
    """
    made = tempfile.mkdtemp
    sweeps: list[int] = []

    def mkdtemp_then_another_sweeps(**kwargs: Any) -> str:
        path = made(**kwargs)
        if not sweeps:
            sweep = "from facewarden.service.private_files import sweep_scratch"
            code = (
                f"import sys; from pathlib import Path; {sweep}; sweep_scratch(Path(sys.argv[1]))"
            )
            done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=False)
            sweeps.append(done.returncode)
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp_then_another_sweeps)
    with scratch_dir(tmp_path) as scratch:
        assert sweeps == [0]
        (scratch / "copy.db").write_bytes(b"pages")  # the directory is still there
        assert [p.name for p in tmp_path.iterdir()] == [scratch.name]
    assert list(tmp_path.iterdir()) == []
