"""Copies of a whole PostgreSQL deployment: into a new database, and to and from bytes.

:func:`copy_database` (``PostgresStore.backup``) copies every table into a
new database; :func:`dump_tables` streams each table's ``COPY ... (FORMAT
binary)`` data for the encrypted backup archive, and :func:`load_tables`
streams them into an empty database in one transaction, so a restore is all
or nothing; neither holds more than a row's data at a time (the archive's
format and encryption live in :mod:`facewarden.service.backup_format`). Tables
are read from one ``REPEATABLE READ`` snapshot and written parents first;
:data:`DERIVED_TABLES` are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from facewarden.errors import ConfigError, ConflictError, IntegrityError
from facewarden.store import migrations
from facewarden.store._dialect import POSTGRES, PgRow
from facewarden.store._pg_admin import connect, redacted, table_order
from facewarden.store._pg_schema import PG_MIGRATIONS

__all__ = ["DERIVED_TABLES", "copy_database", "dump_tables", "load_tables"]

DERIVED_TABLES = frozenset({"face_vectors"})
"""Tables rebuilt from the others, left out of copies: ``face_vectors`` holds the
protected templates unencrypted (pgvector must read them); a copy keeps only
their encrypted originals, and the pgvector gallery copies them back in."""


def copy_database(source_url: str, destination: str, *, tokens_left_out: str | None = None) -> None:
    """Copy every facewarden table, from one snapshot, into a new database ``destination``.

    ``tokens_left_out`` as for :func:`dump_tables`.

    Raises:
        ConfigError: ``destination`` is not a PostgreSQL URL.
        ConflictError: the destination database exists.
    """
    if not destination.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            "a PostgreSQL store backs up into a new database: give a postgresql:// URL "
            "(for a file, use pg_dump)"
        )
    name = str(conninfo_to_dict(destination).get("dbname") or "")
    if not name:
        raise ConfigError("the backup URL names no database")
    with connect(make_conninfo(destination, dbname="postgres")) as admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except pg_errors.DuplicateDatabase:
            raise ConflictError(
                f"{redacted(destination)} exists; back up to a new database"
            ) from None
    try:
        with (
            connect(source_url) as src,
            connect(destination) as dst,
            POSTGRES.translated("backup"),
            src.transaction(),
            dst.transaction(),
        ):
            _restore(dst, _snapshot(src, tokens_left_out))
    except BaseException:
        with connect(make_conninfo(destination, dbname="postgres")) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        raise


def dump_tables(
    url: str, *, tokens_left_out: str | None = None
) -> Iterator[tuple[str, Iterable[Buffer]]]:
    """``(table, its COPY binary data in blocks)`` for every table, from one consistent snapshot.

    Read each table's blocks before asking for the next table: they stream
    from the server as they are read. With ``tokens_left_out`` (a meta key),
    every subject's ID-number token is dumped as NULL and ``meta`` gains that
    key set to ``"1"``, so the restored copy rebuilds them.
    """
    with connect(url) as conn, POSTGRES.translated("backup"), conn.transaction():
        yield from _snapshot(conn, tokens_left_out)


def load_tables(url: str, tables: Iterable[tuple[str, Iterable[Buffer]]]) -> None:
    """Create the copy's schema in the empty database at ``url`` and load ``tables``, parents first.

    Everything is one transaction, committed only once ``tables`` is exhausted
    without an error: a source that fails part way (a damaged archive) leaves
    the database as it was.

    Raises:
        ConflictError: the database already holds a facewarden schema.
        IntegrityError: ``tables`` names a table that copies do not hold.
        ConfigError: the copy is at a schema version newer than this code's (nothing written).
    """
    with connect(url) as conn, POSTGRES.translated("restore"), conn.transaction():
        row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL AS taken").fetchone()
        if row is not None and row["taken"]:
            raise ConflictError(
                "the target database already holds a facewarden deployment; "
                "restore into a new, empty database"
            )
        _restore(conn, _known(tables))


def _known(
    tables: Iterable[tuple[str, Iterable[Buffer]]],
) -> Iterator[tuple[str, Iterable[Buffer]]]:
    copied = [t for t in table_order() if t not in DERIVED_TABLES]
    for table, blocks in tables:
        if table not in copied:
            raise IntegrityError(f"the copy holds a table {table!r} this version does not know")
        yield table, blocks


def _copy(table: str, how: str) -> sql.Composed:
    return sql.SQL("COPY {} " + how + " (FORMAT binary)").format(sql.Identifier(table))


def _snapshot(
    conn: psycopg.Connection[PgRow], tokens_left_out: str | None = None
) -> Iterator[tuple[str, Iterable[Buffer]]]:
    """Each copied table's data, parents first, read in the caller's transaction."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    for table in table_order():
        if table in DERIVED_TABLES:
            continue
        query = _copy(table, "TO STDOUT")
        if tokens_left_out is not None and table in ("subjects", "meta"):
            query = _without_tokens(conn, table, tokens_left_out)
        with conn.cursor().copy(query) as out:
            yield table, out


def _without_tokens(conn: psycopg.Connection[PgRow], table: str, flag: str) -> sql.Composed:
    """``COPY`` of ``subjects`` with every ``id_index`` NULL, or of ``meta`` with ``flag`` set."""
    if table == "meta":
        return sql.SQL(
            "COPY (SELECT key, value FROM meta WHERE key <> {flag} "
            "UNION ALL SELECT {flag}, '1') TO STDOUT (FORMAT binary)"
        ).format(flag=sql.Literal(flag))
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = 'subjects' "
        "ORDER BY ordinal_position"
    ).fetchall()
    columns = [
        sql.SQL("NULL::text")
        if row["column_name"] == "id_index"
        else sql.Identifier(row["column_name"])
        for row in rows
    ]
    return sql.SQL("COPY (SELECT {} FROM subjects) TO STDOUT (FORMAT binary)").format(
        sql.SQL(", ").join(columns)
    )


def _restore(
    conn: psycopg.Connection[PgRow], tables: Iterable[tuple[str, Iterable[Buffer]]]
) -> None:
    """The schema at the copy's own version and ``tables``' rows, in an empty database.

    ``schema_version`` comes first: its rows say which migrations made the
    copied tables, so only those run here and opening the store then
    migrates forward (made at the latest version, an older copy's
    ``schema_version`` would have the migrations after it re-run on top).
    Runs in the caller's transaction; the audit log's position counter then
    resumes after the rows brought in.

    Raises:
        IntegrityError: ``tables`` does not begin with ``schema_version``.
        ConfigError: the copy is at a schema version newer than this code's.
    """
    entries = iter(tables)
    first = next(entries, None)
    if first is None or first[0] != "schema_version":
        raise IntegrityError("the copy does not begin with its schema_version table")
    conn.execute(migrations.schema_version_ddl(POSTGRES))
    _load(conn, *first)
    version = migrations.version_of(conn, POSTGRES)
    migrations.refuse_newer(version, "the copy", "restore it with a newer facewarden")
    for migration in PG_MIGRATIONS:
        if migration.version <= version:
            for statement in migration.statements:
                conn.execute(statement)
    for table, blocks in entries:
        _load(conn, table, blocks)
    conn.execute(
        "SELECT setval(pg_get_serial_sequence('audit_log', 'pos'), "
        "COALESCE(MAX(pos), 0) + 1, false) FROM audit_log"
    )


def _load(conn: psycopg.Connection[PgRow], table: str, blocks: Iterable[Buffer]) -> None:
    with conn.cursor().copy(_copy(table, "FROM STDIN")) as into:
        for block in blocks:
            into.write(block)
