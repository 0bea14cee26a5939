"""Issue 13 finding 3, as the attacker did it: wipe, cut and roll back the audit log on disk.

The attacker has the database file (SQLite, edited with sqlite3) but not the
key directory. Each edit keeps the chain internally consistent, head row
included, so the database alone cannot tell; ``facewarden audit verify`` and
``facewarden check`` must still fail, through the signed head kept in the key
directory (SECURITY.md promise 17).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from .conftest import Run


@pytest.fixture
def db(run: Run, tmp_path: Path) -> Path:
    """A deployment with 6 audit entries."""
    run("init")
    run("watchlists", "create", "gate", "--purpose", "site access", "--lawful-basis", "6(1)(f)")
    for _ in range(4):
        run("subjects", "list")
    assert "audit log OK: 6 entries" in run("audit", "verify").output
    return tmp_path / "data" / "facewarden.db"


def _sql(db: Path, *statements: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    rows: list[tuple[object, ...]] = []
    with conn:
        for statement in statements:
            rows += conn.execute(statement).fetchall()
    conn.close()
    return rows


def _head(db: Path) -> str:
    rows = _sql(db, "SELECT value FROM meta WHERE key = 'audit_head'")
    return str(rows[0][0])


def _both_fail(run: Run, words: str) -> str:
    verify = run("audit", "verify", ok=False)
    assert verify.exit_code == 1 and verify.stdout == ""
    assert words in verify.stderr, verify.stderr
    check = run("check", ok=False)
    assert check.exit_code == 1 and "audit log:" in check.stderr and words in check.stderr
    return verify.stderr


def test_a_wiped_log_and_head_fail_verify_and_check(run: Run, db: Path) -> None:
    _sql(db, "DELETE FROM audit_log", "DELETE FROM meta WHERE key = 'audit_head'")
    stderr = _both_fail(run, "wiped")
    assert "records 6 entries" in stderr


def test_a_tail_cut_with_an_older_head_row_fails(run: Run, db: Path, tmp_path: Path) -> None:
    # Keep the genuine head row of entry 6, let the log grow, then cut it back to
    # 6 entries and put that older (validly MACed) head row back.
    old_head = _head(db)
    run("subjects", "list")
    run("subjects", "list")
    _sql(db, "DELETE FROM audit_log WHERE seq > 6")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (old_head,))
    conn.close()
    stderr = _both_fail(run, "deleted")
    assert "ends at entry 6" in stderr and "records 8 entries" in stderr


def test_a_rollback_to_a_backup_fails_even_after_new_entries(
    run: Run, db: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "old.db"
    run("backup", "--raw", copy)  # entry 7
    for _ in range(3):  # 8..10
        run("subjects", "list")
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(copy, db)
    assert "ends at entry 7" in _both_fail(run, "deleted")
    # The restored log grows past the signed head with other entries: the
    # anchor does not follow it, and names the entry that differs.
    for _ in range(4):
        run("subjects", "list", ok=False)
    stderr = _both_fail(run, "rolled back")
    assert "entry 10" in stderr


def test_an_altered_anchor_file_is_named(run: Run, db: Path, tmp_path: Path) -> None:
    # A forged head naming entry 2, without the audit key to MAC it.
    anchor = tmp_path / "keys" / "audit-anchor.json"
    forged = b'{"format": 1, "seq": 2, "entry_hash": "' + b"0" * 64 + b'", "mac": "' + b"0" * 64
    anchor.write_bytes((forged + b'"}').ljust(512))
    assert "fails its MAC" in _both_fail(run, "tampered")


def test_reanchor_accepts_a_deliberate_restore_and_says_so(
    run: Run, db: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "old.db"
    run("backup", "--raw", copy)
    run("subjects", "list")
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(copy, db)
    run("audit", "verify", ok=False)
    refused = run("audit", "reanchor", ok=False)
    assert refused.exit_code == 1 and "--yes" in refused.stderr
    assert "re-anchored at entry 7" in run("audit", "reanchor", "--yes").output
    assert "audit log OK: 8 entries" in run("audit", "verify").output
    listed = run("audit", "list", "--after", "7").output
    assert "audit.reanchor" in listed and "previous_seq=8" in listed
    run("check")
