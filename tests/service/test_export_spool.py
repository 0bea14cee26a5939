"""The export's spool: bounded, sealed, nameless, and exactly what was written."""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from facewarden.errors import FacewardenError
from facewarden.service.export_spool import BLOCK, spooled

NAME = "Barack Obama, 1600 Pennsylvania Ave"


def _spool_files(directory: Path) -> list[bytes]:
    """What the open files of this process in ``directory`` hold (the spool has no name)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            with open(f"/proc/self/fd/{fd}", "rb") as file:
                held.append(file.read())
    return held


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_the_spool_gives_back_what_was_written_and_keeps_nothing_readable(tmp_path: Path) -> None:
    pieces = [f'{{"n": {i}, "who": "{NAME}", "é": "ü"}}\n' for i in range(5000)]
    spool = spooled(iter(pieces), tmp_path)
    assert list(tmp_path.iterdir()) == []  # nameless
    [on_disk] = _spool_files(tmp_path)
    assert len(on_disk) > len("".join(pieces).encode())  # all of it is there, sealed
    assert NAME.encode() not in on_disk and b'"n": 1' not in on_disk
    blocks = list(spool)
    assert max(map(len, blocks)) <= BLOCK
    assert b"".join(blocks).decode("utf-8") == "".join(pieces)
    assert _spool_files(tmp_path) == []  # closed once read


def test_an_error_while_spooling_leaves_nothing(tmp_path: Path) -> None:
    def failing() -> Iterator[str]:
        yield "x" * (3 * BLOCK)
        raise RuntimeError("the subject was erased meanwhile")

    with pytest.raises(RuntimeError, match="erased"):
        spooled(failing(), tmp_path)
    assert list(tmp_path.iterdir()) == [] and _spool_files(tmp_path) == []


def test_a_data_directory_not_made_yet_is_made_private(tmp_path: Path) -> None:
    """A PostgreSQL deployment may have written nothing to its data directory yet."""
    directory = tmp_path / "data"
    assert b"".join(spooled(iter(["{}"]), directory)) == b"{}"
    assert directory.stat().st_mode & 0o777 == 0o700


def test_a_full_disk_while_spooling_is_a_typed_error_that_leaves_nothing(tmp_path: Path) -> None:
    """A full disk (here: a file-size limit) is FacewardenError, not the OSError that
    closing the half-written spool raised again (its buffer flushed into the same limit)."""

    def export() -> Iterator[str]:
        while True:
            yield "x" * BLOCK

    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4 * BLOCK, hard))
    try:
        with pytest.raises(FacewardenError, match="cannot spool the export: File too large"):
            spooled(export(), tmp_path)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert list(tmp_path.iterdir()) == []
