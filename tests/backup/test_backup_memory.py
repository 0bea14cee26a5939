"""Backup and restore stream: a database many times the memory bound, on SQLite and PostgreSQL.

The johns are enrolled for real; the database is then padded, through the
store in one transaction, with thousands of subjects whose records are as large
as the record limits allow (a full name and 4000 characters of notes; their
ciphertexts are random bytes, as opaque as the real ones, and their data key is
a copy of a real john's). The archive's payload is far larger than the bound;
the peak of Python's allocations (tracemalloc) while writing it and while
restoring it stays under the bound, and so does the growth of the process's
peak resident set (``VmHWM``, reset through ``/proc/self/clear_refs``), which
also counts what SQLite, libpq and OpenSSL allocate. The restored deployment
holds every subject and identifies the johns exactly as before.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from facewarden.service import Warden
from facewarden.service.backup import restore
from facewarden.service.backup_format import CHUNK_BYTES
from facewarden.types import Face

from ._deployments import Deploy, enroll_all, fresh, identify, pad_subjects

PADDING_SUBJECTS = 10_000
MEMORY_BOUND = 8 * CHUNK_BYTES
RSS_BOUND = 24 * CHUNK_BYTES  # also allocator slack, SQLite's page cache, libpq's buffers
T = TypeVar("T")

pytestmark = pytest.mark.slow


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def _measured(call: Callable[[], T]) -> tuple[T, int, int | None]:
    """``call()``'s result, its peak of Python allocations, and its peak RSS growth (bytes).

    The RSS growth is None where the kernel cannot reset the peak.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        rss_before: int | None = _rss_kib("VmRSS")
    except OSError:
        rss_before = None
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = None if rss_before is None else (_rss_kib("VmHWM") - rss_before) * 1024
    return result, peak, rss_growth


def test_a_large_database_is_backed_up_and_restored_in_bounded_memory(
    deploy: Deploy,
    johns: dict[str, list[list[Face]]],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    settings = deploy(tmp_path / "live")
    archive = tmp_path / "large.fwbackup"
    with Warden.open(settings, create=True, actor="test:backup") as warden:
        ids = enroll_all(warden, johns)
        pad_subjects(warden, PADDING_SUBJECTS)
        before = identify(warden, johns)
        report, backup_peak, backup_rss = _measured(lambda: warden.backup_archive(archive))
    assert report.payload_bytes > 5 * MEMORY_BOUND, report.payload_bytes
    target = fresh(deploy, settings, tmp_path / "restored")
    restored, restore_peak, restore_rss = _measured(lambda: restore(archive, target))
    figures = {
        "payload_mib": report.payload_bytes / 2**20,
        "backup_peak_mib": backup_peak / 2**20,
        "restore_peak_mib": restore_peak / 2**20,
        "backup_rss_growth_mib": None if backup_rss is None else backup_rss / 2**20,
        "restore_rss_growth_mib": None if restore_rss is None else restore_rss / 2**20,
    }
    record_property("memory", figures)
    print(figures)
    assert backup_peak < MEMORY_BOUND and restore_peak < MEMORY_BOUND, figures
    if backup_rss is not None and restore_rss is not None:
        assert backup_rss < RSS_BOUND and restore_rss < RSS_BOUND, figures
    assert restored.subjects == len(ids) + PADDING_SUBJECTS
    with Warden.open(target, actor="test:restored") as warden:
        assert identify(warden, johns) == before
