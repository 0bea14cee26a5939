"""What only the embedded SQLite store promises: its pragmas, file modes and damage handling."""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from facewarden.errors import ConfigError, IntegrityError, NotFoundError
from facewarden.store import SqliteStore, SubjectRow, open_sqlite
from facewarden.store.migrations import latest_version

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "facewarden.db"


def _fill(store: SqliteStore, marker: bytes, count: int = 50) -> list[str]:
    ids = []
    with store.transaction() as tx:
        for _ in range(count):
            sid = f"sub_{secrets.token_hex(8)}"
            tx.insert_subject(
                SubjectRow(
                    sid,
                    secrets.token_bytes(62),
                    None,
                    {"notes": marker + secrets.token_bytes(200)},
                    T0,
                    T0,
                )
            )
            ids.append(sid)
    return ids


def test_pragmas_that_the_promises_rest_on(db_path: Path) -> None:
    store = open_sqlite(db_path, create=True)
    try:
        conn = sqlite3.connect(db_path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
        live = store._live()
        assert live.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert live.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert live.execute("PRAGMA secure_delete").fetchone()[0] == 1
        versions = live.execute("SELECT version FROM schema_version").fetchall()
        assert [v[0] for v in versions] == list(range(1, latest_version() + 1))
    finally:
        store.close()


def test_database_file_and_folder_are_private(db_path: Path) -> None:
    open_sqlite(db_path, create=True).close()
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(db_path.parent).st_mode) == 0o700


def test_a_missing_database_is_not_created_unless_asked(db_path: Path) -> None:
    with pytest.raises(NotFoundError, match="facewarden init"):
        open_sqlite(db_path)
    assert not db_path.exists()


def _scribble_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page, len(data) - page, page):  # every page but the header
        data[offset + 8 : offset + 40] = secrets.token_bytes(32)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(b"this is not a database at all" * 100), "not a readable"),
        (lambda p: p.write_bytes(p.read_bytes()[:1500]), "damaged|not a readable"),
        (_scribble_pages, "damaged|not a readable"),
    ],
    ids=["garbage", "truncated", "scribbled"],
)
def test_a_damaged_file_is_an_integrity_error_not_a_crash(
    db_path: Path, damage: object, message: str
) -> None:
    store = open_sqlite(db_path, create=True)
    _fill(store, b"x", 200)
    store.compact()
    store.close()
    damage(db_path)  # type: ignore[operator]
    with pytest.raises(IntegrityError, match=message) as caught:
        open_sqlite(db_path)
    assert "backup" in caught.value.message


def test_a_foreign_sqlite_file_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir()
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(IntegrityError, match="not a facewarden one"):
        open_sqlite(db_path)


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    open_sqlite(db_path, create=True).close()
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO schema_version VALUES (999, 'future', '2099')")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="newer"):
        open_sqlite(db_path)


def test_deleted_bytes_leave_the_file_and_the_wal(db_path: Path) -> None:
    store = open_sqlite(db_path, create=True)
    marker = b"MARKER-" + secrets.token_hex(8).encode()
    ids = _fill(store, marker)
    store.checkpoint()
    assert marker in db_path.read_bytes()
    with store.transaction() as tx:
        for sid in ids:
            tx.delete_subject(sid)
    store.compact()
    files = [db_path, db_path.with_name(db_path.name + "-wal")]
    assert not any(marker in f.read_bytes() for f in files if f.exists())
    assert store.integrity_check() == []
    store.close()
