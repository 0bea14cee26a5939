"""PostgreSQL housekeeping: connecting, migrating, the server's safety check, the tables.

Private to the PostgreSQL modules of the store.
"""

from __future__ import annotations

import logging
import re
import time

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from facewarden.errors import (
    ConfigError,
    DatabaseUnavailableError,
    IntegrityError,
    NotFoundError,
)
from facewarden.store import migrations
from facewarden.store._dialect import POSTGRES, PgRow
from facewarden.store._pg_schema import PG_MIGRATIONS

__all__ = [
    "await_older_snapshots",
    "connect",
    "deletion_warnings",
    "migrate",
    "redacted",
    "server_problems",
    "table_order",
]

logger = logging.getLogger(__name__)

_CONNECT_TIMEOUT_S = 10
# pg_advisory_xact_lock key serialising migrations ("fw-migr" as an integer).
MIGRATION_LOCK = 0x66772D6D696772
_TCP_TYPES = ("host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc")
# Other sessions of the database whose snapshot or transaction began before a given xid
# (the next one to be assigned when asked): rows deleted until then may be visible to them.
_OLDER_SESSIONS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND pid <> pg_backend_pid() AND (age(backend_xmin) > age(%(xid)s::text::xid)"
    " OR age(backend_xid) > age(%(xid)s::text::xid))"
)


def redacted(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unparsable URL)"
    user = params.get("user") or ""
    host = params.get("host") or "localhost"
    port = params.get("port")
    where = f"{host}:{port}" if port else str(host)
    return f"postgresql://{user}{'@' if user else ''}{where}/{params.get('dbname') or ''}"


def connect(url: str, *, application_name: str = "facewarden") -> psycopg.Connection[PgRow]:
    """An autocommit connection in UTC, or a clear error when the server cannot be reached.

    Raises:
        DatabaseUnavailableError: the server refused, timed out or does not exist.
        ConfigError: the URL is malformed.
    """
    try:
        conn = psycopg.connect(
            url,
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=_CONNECT_TIMEOUT_S,
            application_name=application_name[:63],
            # A server cut off without a word (its host gone) fails the call in
            # flight after about 25 s, not the kernel's two hours.
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
    except psycopg.OperationalError as exc:
        # libpq's first line says what failed (refused, no socket, bad password); the
        # indented lines after it are generic hints.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[0] if lines else type(exc).__name__
        for prefix in ("connection failed: ", "connection is bad: "):
            reason = reason.removeprefix(prefix)
        raise DatabaseUnavailableError(
            f"cannot reach PostgreSQL at {redacted(url)}: {reason}; check that the server "
            "runs and FACEWARDEN_DATABASE_URL points at it"
        ) from None
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"FACEWARDEN_DATABASE_URL is not a valid PostgreSQL URL: {exc}") from None
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


def server_problems(conn: psycopg.Connection[PgRow]) -> list[str]:
    """What makes this server unsafe for facewarden's data; empty when nothing does.

    Checks that ``fsync`` and ``full_page_writes`` are on (without them a
    crash can lose or tear acknowledged writes) and that no TCP line of
    ``pg_hba.conf`` uses ``trust`` (anyone who reaches the port would be in,
    with no password). ``pg_hba_file_rules`` is readable by superusers
    only; when it is not readable that check is skipped with a log line.
    """
    problems = []
    for setting in ("fsync", "full_page_writes"):
        row = conn.execute("SELECT setting FROM pg_settings WHERE name = %s", (setting,)).fetchone()
        if row is None or row["setting"] != "on":
            problems.append(
                f"{setting} is off on the PostgreSQL server: a crash could lose or corrupt "
                f"acknowledged enrollments; set {setting} = on"
            )
    try:
        rows = conn.execute(
            "SELECT line_number, type, auth_method FROM pg_hba_file_rules "
            "WHERE type = ANY(%s) AND auth_method = 'trust' AND error IS NULL",
            (list(_TCP_TYPES),),
        ).fetchall()
    except pg_errors.InsufficientPrivilege:
        logger.info("pg_hba_file_rules is not readable by this role; check pg_hba.conf by hand")
        return problems
    problems.extend(
        f"pg_hba.conf line {r['line_number']} lets TCP connections in with 'trust' "
        "(no password); use scram-sha-256"
        for r in rows
    )
    return problems


def deletion_warnings(conn: psycopg.Connection[PgRow]) -> list[str]:
    """Settings under which deleted rows outlive the purge in the server's files.

    After a purge or an erasure the store rewrites the tables and ends the
    WAL segment, and the server then removes the old segments; with
    ``wal_recycle = on`` (PostgreSQL's default; the embedded server turns it
    off) it renames them for reuse with the old rows still in them, and a WAL
    archive keeps every segment. Neither is refused (an archive is a backup
    policy of its own), but each is said once at open.
    """
    warnings = []
    rows = conn.execute(
        "SELECT name, setting FROM pg_settings WHERE name IN ('wal_recycle', 'archive_mode')"
    ).fetchall()
    settings = {str(r["name"]): str(r["setting"]) for r in rows}
    if settings.get("wal_recycle") == "on":
        warnings.append(
            "wal_recycle is on: WAL segments are recycled with expired sightings and erased "
            "rows still in them until overwritten; set wal_recycle = off"
        )
    if settings.get("archive_mode", "off") != "off":
        warnings.append(
            "archive_mode is on: the WAL archive keeps expired sightings and erased rows "
            "(ciphertexts of erased people stay unreadable); expire it as the retention says"
        )
    return warnings


def migrate(conn: psycopg.Connection[PgRow], where: str, *, create: bool) -> None:
    """Bring the schema to the latest version, in one transaction under the migrations' lock.

    Raises:
        NotFoundError: the database holds no facewarden schema and ``create`` is false.
        IntegrityError: it holds other tables but no facewarden schema.
        ConfigError: it was written by a newer facewarden.
    """
    with POSTGRES.translated("migrate"), conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        tables = {
            r["tablename"]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        }
        if "schema_version" not in tables:
            if tables:
                raise IntegrityError(f"{where} holds tables, but is not a facewarden database")
            if not create:
                raise NotFoundError(
                    f"no facewarden database at {where}; create one with `facewarden init`"
                )
        migrations.apply(conn, POSTGRES, PG_MIGRATIONS, where)


def table_order() -> list[str]:
    """Every table of the schema, parents before children (the order migrations make them)."""
    names = ["schema_version"]
    for migration in PG_MIGRATIONS:
        for statement in migration.statements:
            match = re.match(r"\s*CREATE TABLE (\w+)", statement)
            if match:
                names.append(match.group(1))
    return names


def await_older_snapshots(conn: psycopg.Connection[PgRow], timeout_s: float) -> list[int]:
    """Wait, at most ``timeout_s``, for other sessions that may still see deleted rows.

    ``VACUUM FULL`` copies into the rewritten table every deleted row that a
    snapshot still open in another session of the database may see (MVCC):
    a report, a ``pg_dump``, a long export on another server, an autovacuum
    ``ANALYZE`` of another table that began before the deletes. Compacting
    then would leave an erased person's rows in the new files. So the
    sessions whose snapshot or transaction began before now are waited for.

    Returns the process ids still holding such a snapshot at the deadline (empty
    when none): their rows stay until a later compaction.
    """
    row = conn.execute(
        "SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::bigint % 4294967296) AS xid"
    ).fetchone()
    horizon = {"xid": str(row["xid"]) if row else "0"}
    deadline = time.monotonic() + timeout_s
    while True:
        pids = [int(r["pid"]) for r in conn.execute(_OLDER_SESSIONS, horizon).fetchall()]
        if not pids or time.monotonic() >= deadline:
            return pids
        time.sleep(0.1)
