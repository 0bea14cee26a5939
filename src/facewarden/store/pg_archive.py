"""PostgreSQL tables to bytes and back, for the encrypted backup archive.

:func:`dump_tables` reads every table (but the derived ones) from one
REPEATABLE READ snapshot with ``COPY ... TO STDOUT (FORMAT binary)``;
:func:`load_tables` builds the schema in an empty database and copies them
back in one transaction, so a restore is all or nothing. The archive format
and its encryption live in :mod:`facewarden.service.backup`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from psycopg import sql

from facewarden.errors import ConflictError
from facewarden.store._dialect import POSTGRES
from facewarden.store._pg_admin import (
    DERIVED_TABLES,
    connect,
    create_schema,
    resume_audit_positions,
    table_order,
)

__all__ = ["dump_tables", "load_tables"]


def dump_tables(url: str) -> Iterator[tuple[str, bytes]]:
    """``(table, COPY binary data)`` for every table, from one consistent snapshot."""
    with connect(url) as conn, POSTGRES.translated("backup"), conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for table in table_order():
            if table in DERIVED_TABLES:
                continue
            query = sql.SQL("COPY {} TO STDOUT (FORMAT binary)").format(sql.Identifier(table))
            with conn.cursor().copy(query) as out:
                yield table, b"".join(bytes(block) for block in out)


def load_tables(url: str, tables: Mapping[str, bytes]) -> None:
    """Create the schema in the empty database at ``url`` and load ``tables`` into it.

    Raises:
        ConflictError: the database already holds a facewarden schema.
    """
    with connect(url) as conn, POSTGRES.translated("restore"), conn.transaction():
        row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL AS taken").fetchone()
        if row is not None and row["taken"]:
            raise ConflictError(
                "the target database already holds a facewarden deployment; "
                "restore into a new, empty database"
            )
        create_schema(conn)
        for table in table_order():
            if table not in tables:
                continue
            query = sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(sql.Identifier(table))
            with conn.cursor().copy(query) as into:
                into.write(tables[table])
        resume_audit_positions(conn)
