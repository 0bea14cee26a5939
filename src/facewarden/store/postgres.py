"""The PostgreSQL store: the same contract as SQLite, for many processes on one database.

:func:`open_postgres` connects (``FACEWARDEN_DATABASE_URL``), refuses a
server whose configuration would betray the data (see
:func:`~facewarden.store._pg_admin.server_problems`), and runs pending
migrations (numbered as SQLite's; see :mod:`facewarden.store._pg_schema`).

What the store keeps is what the service hands it (see
:mod:`facewarden.store.base`) and, for pgvector to index them, each face's
*protected* template, not encrypted, in ``face_vectors`` (see
:mod:`facewarden.store._pg_schema`). The schema needs the pgvector
extension: :func:`open_postgres` says so clearly where the server lacks it.

One connection serves the store, guarded by a lock, as on SQLite: a
transaction's reads see its writes, and reads from other threads wait while
it runs. Across processes, every write transaction first takes one
transaction-scoped advisory lock, so writers are serialised exactly as
SQLite's ``BEGIN IMMEDIATE`` serialises them (two servers never both extend
the audit chain from the same head). A connection lost between calls is
re-opened at the next one; a call that meets a lost or unreachable server
raises :class:`~facewarden.errors.DatabaseUnavailableError` (HTTP 503), and
its transaction is rolled back by the server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from facewarden.errors import ConfigError, DatabaseUnavailableError, FacewardenError
from facewarden.store._dialect import POSTGRES, PgRow
from facewarden.store._pg_admin import (
    await_older_snapshots,
    connect,
    deletion_warnings,
    migrate,
    redacted,
    server_problems,
    table_order,
)
from facewarden.store._pg_schema import FACE_VECTOR_INDEX
from facewarden.store._pg_vectors import VectorReads, VectorWrites
from facewarden.store._store_base import StoreBase
from facewarden.store._write import Writes
from facewarden.store.pg_archive import copy_database

__all__ = ["PgTransaction", "PostgresStore", "is_postgres_url", "open_postgres"]

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key every write transaction takes ("fw-write").
WRITER_LOCK = 0x66772D7772697465
_SNAPSHOT_WAIT_S = 30.0
"""How long a compaction waits for other sessions that may still see the deleted rows."""


def is_postgres_url(url: str | None) -> bool:
    """Whether ``url`` selects the PostgreSQL store."""
    return url is not None and url.startswith(("postgresql://", "postgres://"))


def open_postgres(url: str, *, create: bool = False, check_server: bool = True) -> PostgresStore:
    """Connect to the database at ``url``, check the server, and migrate the schema.

    Args:
        url: a libpq URL (``postgresql://user@host/db``; a password belongs in
            ``~/.pgpass`` or ``PGPASSWORD`` rather than in the URL).
        create: create facewarden's tables in an empty database.
        check_server: refuse a server with unsafe settings (off only for tests of it).

    Raises:
        DatabaseUnavailableError: the server cannot be reached.
        ConfigError: the server's settings are unsafe, or the schema is newer than this code.
        NotFoundError: the database holds no facewarden schema (and not ``create``).
        IntegrityError: the database holds someone else's tables.
    """
    where = redacted(url)
    conn = connect(url)
    try:
        if check_server:
            problems = server_problems(conn)
            if problems:
                raise ConfigError(
                    f"refusing to use the PostgreSQL server at {where}: " + "; ".join(problems)
                )
            for warning in deletion_warnings(conn):
                logger.warning("the PostgreSQL server at %s: %s", where, warning)
        _require_pgvector(conn, where, create=create)
        migrate(conn, where, create=create)
    except BaseException:
        conn.close()
        raise
    return PostgresStore(conn, url)


def _read_only(conn: psycopg.Connection[PgRow]) -> psycopg.Connection[PgRow]:
    """``conn`` set to read one unmoving snapshot per transaction, and never write."""
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn


def _require_pgvector(conn: psycopg.Connection[PgRow], where: str, *, create: bool) -> None:
    """Refuse clearly, before migrating, where the schema's pgvector extension cannot be had.

    Raises:
        ConfigError: pgvector is not installed on the server, or not in this
            database and this role may not create it.
    """
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL AS ours").fetchone()
    if not (create or (row is not None and row["ours"])):
        return  # not a facewarden database: migrate() says so
    if not conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone():
        raise ConfigError(
            f"the PostgreSQL server at {where} lacks the pgvector extension, which holds the "
            "templates' vector index; install pgvector (0.8 or later) on it"
        )
    su = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if su is None or not su["rolsuper"]:
        raise ConfigError(
            f"the database at {where} lacks the pgvector extension and this role may not "
            "create it; have a superuser run `CREATE EXTENSION vector;` in it once"
        )


class PgTransaction(Writes, VectorReads, VectorWrites):
    """One transaction's reads and writes, under the writers' advisory lock."""


class PostgresStore(StoreBase[PgTransaction], VectorReads):
    """The store over one PostgreSQL connection. Build it with :func:`open_postgres`."""

    _transaction_type = PgTransaction
    _conn: psycopg.Connection[PgRow] | None

    def __init__(self, conn: psycopg.Connection[PgRow], url: str) -> None:
        super().__init__(POSTGRES, conn)
        self._url = url
        # A second connection, opened at the first audit_snapshot, so a long
        # verification neither holds the writers' connection nor sees it move.
        self._snapshot_conn: psycopg.Connection[PgRow] | None = None
        self._snapshot_lock = threading.Lock()

    def _live(self) -> psycopg.Connection[PgRow]:
        conn: psycopg.Connection[PgRow] = super()._live()
        if conn.closed or conn.broken:
            if self._in_transaction:
                raise DatabaseUnavailableError(
                    "the connection to PostgreSQL was lost inside a transaction; "
                    "nothing of it was committed"
                )
            logger.warning("the connection to %s was lost; reconnecting", self.location)
            conn.close()
            conn = self._conn = connect(self._url)
        return conn

    @property
    def location(self) -> str:
        return redacted(self._url)

    @property
    def url(self) -> str:
        """The URL the store was opened with (may hold a password: not for messages)."""
        return self._url

    @property
    def in_transaction(self) -> bool:
        """Whether a :meth:`transaction` is open on this store now."""
        return self._in_transaction

    @contextmanager
    def _begun(self, conn: psycopg.Connection[PgRow]) -> Iterator[None]:
        # A lost server raises DatabaseUnavailableError; nothing was committed.
        with POSTGRES.translated("transaction"), conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            yield

    @contextmanager
    def _snapshot(self, *, own: bool = False) -> Iterator[psycopg.Connection[PgRow]]:
        # REPEATABLE READ: every read sees the state of the transaction's first query.
        if own:
            with _read_only(connect(self._url)) as own_conn, own_conn.transaction():
                yield own_conn
            return
        with self._snapshot_lock:
            conn = self._snapshot_conn
            if conn is None or conn.closed or conn.broken:
                if conn is not None:
                    conn.close()
                conn = self._snapshot_conn = _read_only(connect(self._url))
            with conn.transaction():
                yield conn

    def pgvector_version(self) -> tuple[int, ...]:
        """The version of the pgvector extension in this database (``(0, 8, 0)``)."""
        version = self._text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        return tuple(int(p) for p in (version or "").split(".") if p.isdigit())

    def ensure_face_vector_index(self, dim: int) -> None:
        """Create the HNSW index over ``face_vectors`` of dimension ``dim`` if missing.

        Version 5 made the one for 128; another embedder's dimension gets
        its own partial index here (slow on a large table, done once).
        """
        with self._lock, POSTGRES.translated("face vector index"):
            self._live().execute(FACE_VECTOR_INDEX.format(dim=int(dim)))

    def drop_face_vectors(self) -> int:
        """Empty ``face_vectors`` and rewrite its files: for a deployment without pgvector.

        The table holds protected templates unencrypted (pgvector must read
        them); a deployment that does not search with pgvector keeps none
        there, and the rows an earlier version or an earlier ``pgvector``
        choice left behind leave the table's files, its column statistics and
        the WAL here (:meth:`compact`). Returns how many rows went.
        """
        with self._lock, POSTGRES.translated("drop face vectors"):
            conn = self._live()
            row = conn.execute("SELECT EXISTS (SELECT 1 FROM face_vectors) AS any").fetchone()
            if row is None or not row["any"]:
                return 0
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                cur = conn.execute("DELETE FROM face_vectors")
                count = cur.rowcount
        # Its files, its column statistics (which sample the vectors) and the WAL.
        self.compact(["face_vectors"])
        return count

    def analyze_face_vectors(self) -> None:
        """Refresh the planner's statistics of ``face_vectors`` (after a bulk load)."""
        with self._lock, POSTGRES.translated("analyze face vectors"):
            self._live().execute("ANALYZE face_vectors")

    def integrity_check(self) -> list[str]:
        """Invalid indexes and data-checksum failures the server knows of; empty when healthy."""
        problems = [
            f"index {r['name']} is invalid; rebuild it with REINDEX"
            for r in self._rows(
                "SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT i.indisvalid AND n.nspname = current_schema()"
            )
        ]
        row = self._one(
            "SELECT checksum_failures AS n FROM pg_stat_database WHERE datname = current_database()"
        )
        if row is not None and row["n"]:
            problems.append(f"{row['n']} data-checksum failure(s) reported by the server")
        return problems

    def checkpoint(self) -> None:
        """Ask the server for a checkpoint (needs the pg_checkpoint role; skipped without)."""
        with self._lock, POSTGRES.translated("checkpoint"):
            try:
                self._live().execute("CHECKPOINT")
            except pg_errors.InsufficientPrivilege:
                logger.info("CHECKPOINT needs the pg_checkpoint role; left to the server")

    def compact(self, tables: Iterable[str] | None = None) -> None:
        """``VACUUM FULL`` of ``tables`` (None: all): deleted rows leave their data files.

        Only the tables named are rewritten: each rewrite locks its table
        and, for ``faces`` or ``face_vectors`` at a million rows, takes
        minutes (the HNSW index is rebuilt), so a purge that deleted only
        sightings must not pay for the whole database. The tables that a
        delete from those cascades into are rewritten with them, and the WAL
        is cut afterwards (:meth:`_cut_wal`).
        """
        names = None if tables is None else sorted(set(tables))
        if names is not None and not names:
            return
        known = set(table_order())
        unknown = [] if names is None else [t for t in names if t not in known]
        if unknown:
            raise FacewardenError(f"no such table to compact: {', '.join(unknown)}")
        with self._lock, POSTGRES.translated("vacuum"):
            conn = self._live()
            holding = await_older_snapshots(conn, _SNAPSHOT_WAIT_S)
            if holding:
                logger.warning(
                    "sessions %s of the database hold a snapshot older than the deletions: "
                    "the rows they may see stay in the table files until the next compaction",
                    ", ".join(map(str, holding)),
                )
            rewritten = table_order() if names is None else self._cascade(names)
            tables_sql = sql.SQL(", ").join(sql.Identifier(t) for t in rewritten)
            targets = sql.SQL("") if names is None else sql.SQL(" {}").format(tables_sql)
            # Statistics are forgotten only once the rewrite holds (or has held) each
            # table's exclusive lock: an autovacuum ANALYZE that sampled the deleted
            # rows has then finished or been cancelled, and cannot write them back
            # after they were deleted (an empty table's ANALYZE replaces nothing).
            conn.execute(sql.SQL("VACUUM (FULL){}").format(targets))
            statistics = self._forget_statistics(conn, rewritten)
            conn.execute(sql.SQL("ANALYZE{}").format(targets))
            if statistics:
                conn.execute("VACUUM (FULL) pg_catalog.pg_statistic")
        self._cut_wal()

    @staticmethod
    def _forget_statistics(conn: psycopg.Connection[PgRow], tables: list[str]) -> bool:
        """Delete the column statistics of ``tables`` and their indexes (``ANALYZE`` redoes them).

        ``ANALYZE`` (autovacuum's, or the compaction's) keeps sample values of
        each column in ``pg_statistic``: histogram bounds and most common
        values, so ID-number tokens, subject and camera ids, sealed
        thumbnails. Statistics of a table left empty are never replaced, and
        replaced ones stay as dead rows: both would keep deleted rows' values.
        Needs a superuser (the embedded server's role); returns whether it ran.
        """
        try:
            # The tables' own, and their expression indexes' (the HNSW index casts).
            conn.execute(
                "WITH t AS (SELECT c.oid FROM pg_class c WHERE c.relname = ANY(%s)"
                " AND c.relnamespace = to_regnamespace(current_schema()))"
                " DELETE FROM pg_catalog.pg_statistic WHERE starelid IN"
                " (SELECT oid FROM t UNION SELECT indexrelid FROM pg_index"
                " WHERE indrelid IN (SELECT oid FROM t))",
                (tables,),
            )
        except pg_errors.InsufficientPrivilege:
            logger.warning(
                "only a superuser may delete column statistics: sample values of deleted rows "
                "may stay in pg_statistic until ANALYZE replaces them and its space is reused"
            )
            return False
        return True

    def _cascade(self, names: list[str]) -> list[str]:
        """``names`` and every table a delete from them reaches through its foreign keys.

        A deletion cascades (a subject's sightings, a sighting's alert
        decision): their old row versions lie in those tables' files too.
        """
        rows = (
            self._live()
            .execute(
                "WITH RECURSIVE hit(oid) AS ("
                " SELECT c.oid FROM pg_class c WHERE c.relname = ANY(%s)"
                " AND c.relnamespace = to_regnamespace(current_schema())"
                " UNION SELECT k.conrelid FROM pg_constraint k JOIN hit ON k.confrelid = hit.oid"
                " WHERE k.contype = 'f' AND k.confdeltype IN ('c', 'n', 'd'))"
                " SELECT c.relname AS name FROM pg_class c JOIN hit ON c.oid = hit.oid ORDER BY 1",
                (names,),
            )
            .fetchall()
        )
        return sorted({*names, *(str(r["name"]) for r in rows)})

    def _cut_wal(self) -> None:
        """End the WAL segment and checkpoint, so the segments that recorded deleted rows go.

        Compacting rewrites a table without its deleted rows, but the WAL
        segments written before still hold them (the inserts, and full-page
        images of pages with dead rows) until the server removes them: at a
        checkpoint once nothing needs them, which a segment still being
        written to never is, however small the deployment. With
        ``wal_recycle = off`` (the embedded server's setting) the removed
        segments are deleted; recycled ones keep their contents until
        overwritten. Needs the right to run ``pg_switch_wal()`` (superuser or
        granted); without it the segments go when the server fills them.
        """
        with self._lock, POSTGRES.translated("switch WAL"):
            try:
                self._live().execute("SELECT pg_switch_wal()")
            except pg_errors.InsufficientPrivilege:
                logger.warning(
                    "pg_switch_wal() is not granted to this role: deleted rows stay in the "
                    "current WAL segment until the server fills it (GRANT EXECUTE ON FUNCTION "
                    "pg_switch_wal() TO <role>)"
                )
        self.checkpoint()

    def backup(self, destination: str) -> None:
        """Copy every table, from one snapshot, into a new database at ``destination`` (a URL).

        Raises:
            ConfigError: ``destination`` is not a PostgreSQL URL.
        """
        with self._lock:
            self._live()
        copy_database(self._url, destination)

    def close(self) -> None:
        """Close both connections; idempotent. Later calls raise FacewardenError."""
        super().close()
        with self._snapshot_lock:
            if self._snapshot_conn is not None:
                self._snapshot_conn.close()
                self._snapshot_conn = None
