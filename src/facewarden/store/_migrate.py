"""Applying the migration sequence: the same steps for both stores.

Private to the stores. Each store opens the transaction (SQLite's ``BEGIN
IMMEDIATE``; PostgreSQL's, holding the migrations' advisory lock) and first
makes sure the database is facewarden's or empty, its own way; :func:`apply`
then brings the schema to the latest version in that same transaction,
recording each migration in ``schema_version``, so a crash leaves the schema
at the version it had or at the latest, never between.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from facewarden.errors import ConfigError
from facewarden.store._dialect import Dialect
from facewarden.store.migrations import Migration

__all__ = ["apply", "schema_version_ddl"]

logger = logging.getLogger(__name__)


def schema_version_ddl(dialect: Dialect) -> str:
    """The table that records which migrations a database has had (made if missing)."""
    return (
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
        f"description TEXT NOT NULL, applied_at {dialect.time} NOT NULL)"
    )


def apply(conn: Any, dialect: Dialect, migrations: Sequence[Migration], where: object) -> None:
    """Run the ``migrations`` newer than the database's version, inside the open transaction.

    Raises:
        ConfigError: the database is at a version newer than the last of ``migrations``.
    """
    conn.execute(schema_version_ddl(dialect))
    rows = dialect.fetch(conn, "SELECT COALESCE(MAX(version), 0) AS v FROM schema_version", ())
    current = int(rows[0]["v"])
    latest = migrations[-1].version
    if current > latest:
        raise ConfigError(
            f"{where} is at schema version {current}, newer than this facewarden "
            f"understands ({latest}); upgrade facewarden"
        )
    for migration in migrations:
        if migration.version <= current:
            continue
        for statement in migration.statements:
            conn.execute(statement)
        dialect.execute(
            conn,
            "INSERT INTO schema_version VALUES (?, ?, ?)",
            (migration.version, migration.description, dialect.time_in(datetime.now(UTC))),
        )
        logger.info("migrated %s to schema version %d", where, migration.version)
