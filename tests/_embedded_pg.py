"""Folders for deployments on their own embedded PostgreSQL, shared by the tests that start one.

PostgreSQL refuses to run as root, so under root the embedded cluster runs as
``nobody``: its folder must be reachable by that user, which pytest's own
(root-private) temporary folders are not.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from facewarden.errors import FacewardenError
from facewarden.store._pg_embedded import embedded_bin_dir

__all__ = ["postgres_processes", "reachable_folder"]


def postgres_processes(folder: Path) -> list[int]:
    """Pids of live ``postgres`` processes whose command line names something under ``folder``."""
    needle = os.fsencode(str(folder))
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        program = Path(os.fsdecode(argv[0])).name if argv else ""
        if program == "postgres" and any(needle in a for a in argv):
            found.append(int(entry.name))
    return found


@contextmanager
def reachable_folder(prefix: str) -> Iterator[Path]:
    """A fresh folder ``nobody`` can reach; on leaving, servers in it are stopped and it is removed.

    Skips the test where no embedded PostgreSQL is installed, except on CI,
    where that is a failure.
    """
    try:
        embedded_bin_dir()
    except FacewardenError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no embedded PostgreSQL here: {exc.message}")
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o711)
    try:
        yield folder
    finally:
        for pid in postgres_processes(folder):  # left by a failure part way
            os.kill(pid, signal.SIGQUIT)
        shutil.rmtree(folder, ignore_errors=True)
