"""What only the PostgreSQL store does: the server check, lost connections, its schema.

The contract itself runs on PostgreSQL through ``test_contract.py``; these
tests cover the rest against the session's real server (``pg_server``).
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from facewarden.cli import cli
from facewarden.errors import (
    ConfigError,
    DatabaseUnavailableError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
)
from facewarden.store import Store, SubjectRow, open_sqlite
from facewarden.store._pg_admin import connect, deletion_warnings, redacted, table_order
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.store._pg_schema import PG_MIGRATIONS
from facewarden.store.migrations import MIGRATIONS
from facewarden.store.postgres import is_postgres_url, open_postgres

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def url(pg_server: EmbeddedPostgres) -> str:
    return pg_server.create_database(f"p_{secrets.token_hex(6)}")


def _tables(statements: tuple[str, ...]) -> list[str]:
    return [m.group(1).lower() for s in statements if (m := re.match(r"\s*CREATE TABLE (\w+)", s))]


def test_migrations_match_the_sqlite_ones_version_by_version() -> None:
    assert [(m.version, m.description) for m in PG_MIGRATIONS] == [
        (m.version, m.description) for m in MIGRATIONS
    ]
    for pg, lite in zip(PG_MIGRATIONS, MIGRATIONS, strict=True):
        assert _tables(pg.statements) == _tables(lite.statements)
    assert table_order()[0] == "schema_version"


def test_a_fresh_database_is_migrated_and_reopened(url: str) -> None:
    with pytest.raises(NotFoundError, match="facewarden init"):
        open_postgres(url)
    store = open_postgres(url, create=True)
    assert store.schema_version == PG_MIGRATIONS[-1].version
    store.close()
    reopened = open_postgres(url)
    assert reopened.schema_version == PG_MIGRATIONS[-1].version
    reopened.close()


def test_someone_elses_database_and_a_newer_schema_are_refused(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int)")
    with pytest.raises(IntegrityError, match="not a facewarden database"):
        open_postgres(url, create=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE orders")
    open_postgres(url, create=True).close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version VALUES (999, 'future', now())")
    with pytest.raises(ConfigError, match="newer"):
        open_postgres(url)


@pytest.fixture
def reset_server(pg_server: EmbeddedPostgres) -> Iterator[EmbeddedPostgres]:
    """Undo what a test changes on the shared server's configuration."""
    hba = pg_server.data / "pg_hba.conf"
    original = hba.read_bytes()
    yield pg_server
    hba.write_bytes(original)
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM RESET ALL")
        conn.execute("SELECT pg_reload_conf()")


def _reload(server: EmbeddedPostgres) -> None:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")


@pytest.mark.parametrize("setting", ["fsync", "full_page_writes"])
def test_a_server_without_crash_safety_is_refused(
    reset_server: EmbeddedPostgres, url: str, setting: str
) -> None:
    with psycopg.connect(reset_server.url(), autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET {setting} = off")
    _reload(reset_server)
    with pytest.raises(ConfigError, match=f"{setting} is off"):
        open_postgres(url, create=True)


def test_trust_authentication_over_tcp_is_refused(reset_server: EmbeddedPostgres, url: str) -> None:
    hba = reset_server.data / "pg_hba.conf"
    hba.write_text(hba.read_text() + "\nhost all all 10.0.0.0/8 trust\n")
    with pytest.raises(ConfigError, match=r"pg_hba.conf line \d+ .*'trust'"):
        open_postgres(url, create=True)


def test_the_embedded_server_deletes_wal_segments_rather_than_recycling_them(
    reset_server: EmbeddedPostgres, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A recycled segment keeps the rows a purge deleted; the server's command line
    # sets wal_recycle = off, which ALTER SYSTEM (a lower source) cannot undo.
    with psycopg.connect(reset_server.url(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET wal_recycle = on")
    _reload(reset_server)
    with connect(url) as conn:
        assert conn.execute("SHOW wal_recycle").fetchone() == {"wal_recycle": "off"}
        assert deletion_warnings(conn) == []
    with caplog.at_level("WARNING", logger="facewarden.store.postgres"):
        open_postgres(url, create=True).close()
    assert "wal_recycle" not in caplog.text


def test_an_unreachable_server_is_a_clear_error(tmp_path: object) -> None:
    url = f"postgresql://fw:s3cret@/nowhere?host={tmp_path}"
    with pytest.raises(DatabaseUnavailableError, match="cannot reach PostgreSQL") as caught:
        open_postgres(url)
    assert "s3cret" not in caught.value.message
    assert caught.value.http_status == 503


def test_the_cli_exits_with_a_message_when_the_server_is_unreachable(tmp_path: object) -> None:
    env = {
        "FACEWARDEN_DATABASE_URL": f"postgresql:///nowhere?host={tmp_path}",
        "FACEWARDEN_KEY_DIR": str(tmp_path),
    }
    result = CliRunner().invoke(cli, ["watchlists", "list"], env=env)
    assert result.exit_code == 1, result.output
    assert "cannot reach PostgreSQL" in result.output
    assert "Traceback" not in result.output


def _subject() -> SubjectRow:
    return SubjectRow(f"sub_{secrets.token_hex(8)}", b"k", None, {"notes": b"\x01"}, T0, T0)


def test_a_lost_connection_fails_one_call_with_503_then_reconnects(url: str) -> None:
    store: Store = open_postgres(url, create=True)
    with psycopg.connect(url, autocommit=True) as killer:
        killer.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'facewarden' AND datname = current_database()"
        )
    with pytest.raises(DatabaseUnavailableError):
        store.count_subjects()
    row = _subject()
    with store.transaction() as tx:
        tx.insert_subject(row)
    assert store.get_subject(row.subject_id) == row
    store.close()


def test_a_value_postgresql_cannot_store_is_invalid_input_not_a_server_fault(url: str) -> None:
    # PostgreSQL's text holds no NUL character (SQLite's does): a caller's value the
    # server refuses is the caller's 400, not the 500 of a broken database, and the
    # transaction it ended leaves what was stored before as it was.
    store: Store = open_postgres(url, create=True)
    kept = _subject()
    with store.transaction() as tx:
        tx.insert_subject(kept)
    with pytest.raises(InvalidInputError, match="cannot be stored"), store.transaction() as tx:
        tx.set_meta("label", "door\x00side")
    assert store.get_meta("label") is None
    assert store.get_subject(kept.subject_id) == kept
    store.close()


def test_writers_in_two_processes_are_serialised(url: str) -> None:
    first, second = open_postgres(url, create=True), open_postgres(url)
    try:
        with first.transaction() as tx:
            tx.insert_subject(_subject())
            with psycopg.connect(url, autocommit=True) as probe:
                waiting = probe.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                ).fetchone()
            assert waiting is not None and waiting[0] == 1
        with second.transaction() as tx:
            assert tx.count_subjects() == 1
    finally:
        first.close()
        second.close()


def test_urls_and_redaction() -> None:
    assert is_postgres_url("postgresql://h/db") and is_postgres_url("postgres://h/db")
    assert not is_postgres_url("sqlite:///x") and not is_postgres_url(None)
    assert redacted("postgresql://alice:pw@db.example:5433/fw") == (
        "postgresql://alice@db.example:5433/fw"
    )


def test_both_backends_have_the_same_tables_and_columns(url: str, tmp_path: Path) -> None:
    lite = open_sqlite(tmp_path / "fw.db", create=True)
    pg = open_postgres(url, create=True)
    try:
        conn = sqlite3.connect(tmp_path / "fw.db")
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        lite_columns = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
        conn.close()
        with psycopg.connect(url) as c:
            rows = c.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
            ).fetchall()
        pg_columns: dict[str, list[str]] = {}
        for table, column in rows:
            pg_columns.setdefault(table, []).append(column)
        assert pg_columns == lite_columns
    finally:
        lite.close()
        pg.close()


def _server_log(server: EmbeddedPostgres) -> bytes:
    """Everything the server logged: ``server.log`` and whatever its log collector wrote."""
    files = [server.root / "server.log", *sorted((server.data / "log").glob("*"))]
    return b"".join(path.read_bytes() for path in files if path.is_file())


def test_the_servers_log_keeps_no_row_value_and_is_bounded(
    pg_server: EmbeddedPostgres, url: str
) -> None:
    """The embedded server's log names no value of a refused write, and is not kept for ever.

    PostgreSQL logs a refused statement with its detail: a duplicate key's
    ``Key (id_index)=(<token>) already exists``, a foreign key's missing
    subject id. facewarden's own writes check first (and take turns), but any
    statement refused there (a tool, an operator's psql, a later code path)
    wrote the value into ``server.log``, appended to for the life of the
    deployment: an erased person's ID-number token stayed there to
    brute-force with the key directory. Now the log keeps the error, not the
    values, and is a week of daily files, each truncated when its weekday
    comes round again.
    """
    token = secrets.token_hex(32)
    store = open_postgres(url, create=True)
    try:
        with store.transaction() as tx:
            tx.insert_subject(SubjectRow("sub_1111111111111111", b"k" * 62, token, {}, T0, T0))
    finally:
        store.close()
    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO subjects (subject_id, wrapped_key, id_index, created_at, updated_at) "
            "VALUES ('sub_2222222222222222', 'k', %s, now(), now())",
            (token,),
        )
    deadline = time.monotonic() + 10
    while b"violates unique constraint" not in _server_log(pg_server):
        assert time.monotonic() < deadline, "the refusal is not in the server's log"
        time.sleep(0.1)
    assert token.encode() not in _server_log(pg_server)
    with psycopg.connect(url) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('logging_collector', "
                "'log_filename', 'log_truncate_on_rotation', 'log_rotation_age')"
            ).fetchall()
        )
    assert settings == {
        "logging_collector": "on",
        "log_filename": "server-%a.log",
        "log_truncate_on_rotation": "on",
        "log_rotation_age": "1440",
    }
