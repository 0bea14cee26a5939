"""Released migrations make, on each backend, exactly the schema they made when released.

A database in the field was made by some earlier facewarden, one migration
at a time; the code opening it today expects the tables, types, defaults,
keys and indexes that those migrations made then, and a backup's binary
``COPY`` data only loads into columns of the very same types. So the
schema that versions 1..10 make, and the ``schema_version`` table that
records them, are pinned here, per backend, in ``schema_v10.txt`` (versions
1..6 written from the code of 2026-12-01, when each backend still had its own
copy of the DDL; version 7's to 10's lines added when each was released). A later
migration adds its lines; it never changes the ones already there.
"""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

import psycopg

from facewarden.store import open_sqlite
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.store._pg_schema import PG_MIGRATIONS
from facewarden.store.migrations import MIGRATIONS
from facewarden.store.postgres import open_postgres

PINNED = Path(__file__).with_name("schema_v10.txt")
RELEASED = 10


def _pinned(backend: str) -> list[str]:
    prefix = f"{backend} "
    lines = PINNED.read_text().splitlines()
    return [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]


def _about_versions(lines: list[str]) -> list[str]:
    return [line for line in lines if " schema_version" in line]


def _without_versions(lines: list[str]) -> list[str]:
    return [line for line in lines if " schema_version" not in line]


def _sqlite_schema(conn: sqlite3.Connection) -> list[str]:
    lines: list[str] = []
    tables = conn.execute(
        "SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' "
        "AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    for table, without_rowid in tables:
        lines.append(f"table {table} without_rowid={without_rowid}")
        for cid, name, kind, notnull, default, pk, hidden in conn.execute(
            f"PRAGMA table_xinfo({table})"
        ):
            lines.append(
                f"column {table}.{cid:02d} {name} {kind.upper()} notnull={notnull} "
                f"default={default} pk={pk} hidden={hidden}"
            )
        for _, _, parent, column, to, on_update, on_delete, _ in conn.execute(
            f"PRAGMA foreign_key_list({table})"
        ):
            lines.append(f"fk {table}.{column} -> {parent}.{to} {on_update}/{on_delete}")
        for _, index, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
            columns = ",".join(str(r[2]) for r in conn.execute(f"PRAGMA index_info({index})"))
            origin_name = index if origin == "c" else origin
            lines.append(f"index {table} {origin_name} ({columns}) unique={unique} p={partial}")
    return sorted(lines)


def _postgres_schema(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    columns = conn.execute(
        "SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), "
        "a.attnotnull, a.attidentity, pg_get_expr(d.adbin, d.adrelid), "
        "CASE WHEN a.attcollation <> t.typcollation THEN co.collname END "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
        "JOIN pg_type t ON t.oid = a.atttypid "
        "LEFT JOIN pg_collation co ON co.oid = a.attcollation "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped"
    ).fetchall()
    lines = [
        f"column {t}.{n:02d} {name} {kind} notnull={nn} identity={ident!s} "
        f"default={default} collate={collate}"
        for t, n, name, kind, nn, ident, default, collate in columns
    ]
    constraints = conn.execute(
        "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
        "WHERE k.contype <> 'n'"  # not-null: the columns say it (and PostgreSQL < 18 has none)
    ).fetchall()
    lines += [f"constraint {t} {name} {definition}" for t, name, definition in constraints]
    indexes = conn.execute(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    ).fetchall()
    lines += [f"index {t} {name} {definition}" for t, name, definition in indexes]
    extensions = conn.execute("SELECT extname FROM pg_extension ORDER BY extname").fetchall()
    lines += [f"extension {name}" for (name,) in extensions]
    return sorted(lines)


def test_released_sqlite_migrations_make_the_pinned_schema(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "fw.db")
    try:
        with conn:
            for migration in MIGRATIONS[:RELEASED]:
                for statement in migration.statements:
                    conn.execute(statement)
        assert _sqlite_schema(conn) == _without_versions(_pinned("sqlite"))
    finally:
        conn.close()


def test_released_postgres_migrations_make_the_pinned_schema(pg_server: EmbeddedPostgres) -> None:
    url = pg_server.create_database(f"m_{secrets.token_hex(6)}")
    with psycopg.connect(url) as conn:
        for migration in PG_MIGRATIONS[:RELEASED]:
            for statement in migration.statements:
                conn.execute(statement)
        assert _postgres_schema(conn) == _without_versions(_pinned("postgres"))


def test_the_schema_version_table_is_as_released(
    pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    # Made by the stores' migration runner, not by a migration; a database in
    # the field has this one, and the runner reads and appends to it.
    open_sqlite(tmp_path / "fw.db", create=True).close()
    conn = sqlite3.connect(tmp_path / "fw.db")
    try:
        made = _sqlite_schema(conn)
    finally:
        conn.close()
    assert _about_versions(made) == _about_versions(_pinned("sqlite"))
    url = pg_server.create_database(f"m_{secrets.token_hex(6)}")
    open_postgres(url, create=True).close()
    with psycopg.connect(url) as pg:
        made = _postgres_schema(pg)
    assert _about_versions(made) == _about_versions(_pinned("postgres"))


def test_the_released_versions_keep_their_numbers_and_descriptions() -> None:
    # schema_version rows in the field name these; the runner skips what they cover.
    expected = _pinned("version")
    assert [f"{m.version} {m.description}" for m in MIGRATIONS[:RELEASED]] == expected
    assert [f"{m.version} {m.description}" for m in PG_MIGRATIONS[:RELEASED]] == expected
