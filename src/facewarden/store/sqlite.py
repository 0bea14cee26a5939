"""The embedded store: one SQLite file, WAL mode, every write durable before it returns.

:func:`open_sqlite` opens (or creates) the database, applies the pragmas
that the promises rest on and runs pending migrations:

* ``journal_mode=WAL`` and ``synchronous=FULL``: a committed transaction
  survives a power cut, readers do not block the writer;
* ``foreign_keys=ON``: erasing a subject cascades to everything hung off it;
* ``secure_delete=ON``: deleted rows are overwritten with zeros in the file,
  not just unlinked from the b-tree (:meth:`SqliteStore.compact` then moves
  them out of the WAL and shrinks the file).

One connection serves the process, guarded by a lock: writes are funnelled
through one writer, as SQLite wants, and a transaction's reads see its own
writes. The file and its folder are created private (0600 / 0700).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy.typing as npt

from facewarden.errors import (
    ConflictError,
    FacewardenError,
    IntegrityError,
    NotFoundError,
)
from facewarden.store import migrations
from facewarden.store._dialect import SQLITE
from facewarden.store._store_base import StoreBase
from facewarden.store._write import Writes

__all__ = ["DB_NAME", "SqliteStore", "SqliteTransaction", "open_sqlite"]

logger = logging.getLogger(__name__)

DB_NAME = "facewarden.db"
_BUSY_TIMEOUT_S = 30.0


def open_sqlite(
    path: str | os.PathLike[str], *, create: bool = False, quick_check: bool = True
) -> SqliteStore:
    """Open the database file at ``path``, creating it if asked, and migrate it.

    Args:
        path: the database file (conventionally ``<data dir>/facewarden.db``).
        create: create the file (and its folder, mode 0700) when missing.
        quick_check: run ``PRAGMA quick_check`` and refuse a damaged file.

    Raises:
        NotFoundError: the file does not exist and ``create`` is false.
        IntegrityError: the file is not a facewarden database, or is damaged.
        ConfigError: the file was written by a newer facewarden.
    """
    db = Path(path)
    if not db.exists():
        if not create:
            raise NotFoundError(
                f"no facewarden database at {db}; create one with `facewarden init`"
            )
        try:
            db.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Created private before SQLite touches it; SQLite gives -wal and
            # -shm the same mode as the database file.
            os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            raise FacewardenError(f"cannot create the database {db}: {exc.strerror}") from None
    elif db.is_dir():
        raise IntegrityError(f"{db} is a folder, not a database file")
    try:
        conn = sqlite3.connect(
            db, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_S
        )
    except sqlite3.Error as exc:
        raise IntegrityError(f"cannot open database {db}: {exc}") from None
    try:
        _configure(conn)
        _migrate(conn, db)
        if quick_check:
            problems = _check(conn, "quick_check")
            if problems:
                raise IntegrityError(
                    f"database {db} is damaged ({problems[0]}); restore it from a backup"
                )
    except FacewardenError:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise IntegrityError(
            f"{db} is not a readable facewarden database ({exc}); it is damaged or not a "
            "database file: restore it from a backup"
        ) from None
    return SqliteStore(conn, db)


def _configure(conn: sqlite3.Connection) -> None:
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise IntegrityError(f"SQLite refused WAL mode (journal_mode is {mode})")
    for pragma in (
        "synchronous=FULL",
        "foreign_keys=ON",
        "secure_delete=ON",
        "trusted_schema=OFF",
        f"busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}",
    ):
        conn.execute(f"PRAGMA {pragma}")


def _migrate(conn: sqlite3.Connection, db: Path) -> None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and "schema_version" not in tables:
        raise IntegrityError(f"{db} is an SQLite database, but not a facewarden one")
    conn.execute("BEGIN IMMEDIATE")
    try:
        migrations.apply(conn, SQLITE, migrations.MIGRATIONS, db)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _check(conn: sqlite3.Connection, pragma: str) -> list[str]:
    rows = [str(r[0]) for r in conn.execute(f"PRAGMA {pragma}")]
    problems = [] if rows == ["ok"] else rows
    problems += [
        f"foreign key violation in {r[0]} (rowid {r[1]})"
        for r in conn.execute("PRAGMA foreign_key_check")
    ]
    return problems


class SqliteTransaction(Writes):
    """One ``BEGIN IMMEDIATE`` transaction's reads and writes."""

    def put_face_vector(self, face_id: str, vector: npt.ArrayLike) -> None:
        """Nothing: the in-memory gallery is SQLite's index (``face_vectors`` stays empty)."""
        del face_id, vector


class SqliteStore(StoreBase[SqliteTransaction]):
    """The embedded store over one SQLite connection. Build it with :func:`open_sqlite`."""

    _transaction_type = SqliteTransaction
    _conn: sqlite3.Connection | None

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        super().__init__(SQLITE, conn)
        self._path = path

    @property
    def location(self) -> str:
        return str(self._path)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @contextmanager
    def _begun(self, conn: sqlite3.Connection) -> Iterator[None]:
        # IMMEDIATE takes SQLite's write lock at once, so two processes never
        # both read the audit head and then both try to extend it.
        with SQLITE.translated("begin transaction"):
            conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            with SQLITE.translated("commit"):
                conn.execute("COMMIT")
        except BaseException:
            # The transaction may already be gone (SQLite rolls back by itself
            # on some errors); rolling back twice must not hide the cause.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _snapshot(self, *, own: bool = False) -> Iterator[sqlite3.Connection]:
        # In WAL mode a reader sees the database as of its first read and never
        # blocks the writer; the store's own connection is not held meanwhile.
        # Each snapshot has its own connection (``own`` or not).
        try:
            conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_S
            )
        except sqlite3.Error as exc:
            raise FacewardenError(f"cannot open {self._path} to read the audit: {exc}") from None
        try:
            conn.execute("PRAGMA query_only=ON")
            conn.execute("BEGIN")
            yield conn
        finally:
            conn.close()  # ends the read transaction

    def integrity_check(self) -> list[str]:
        """SQLite's full ``integrity_check`` plus a foreign-key check; empty when healthy."""
        with self._lock, SQLITE.translated("integrity check"):
            return _check(self._live(), "integrity_check")

    def checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate the WAL to zero bytes."""
        with self._lock, SQLITE.translated("checkpoint"):
            row = self._live().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if row is not None and row[0]:
            logger.warning("WAL checkpoint of %s was blocked by a reader", self._path)

    def compact(self, tables: Iterable[str] | None = None) -> None:
        """Move deleted bytes out of the WAL; with no ``tables`` named, also ``VACUUM``.

        ``secure_delete`` overwrote deleted rows with zeros where they lay, so a
        purge of some tables only needs the WAL (which still holds the old
        pages) checkpointed and truncated; rewriting the whole file (``VACUUM``,
        which holds the write lock for as long as it takes, minutes for a
        large gallery) is kept for a full compaction. An empty ``tables``
        (nothing was deleted) does nothing.
        """
        if tables is not None:
            if list(tables):
                self.checkpoint()
            return
        self.checkpoint()
        with self._lock, SQLITE.translated("vacuum"):
            self._live().execute("VACUUM")
        self.checkpoint()

    def backup(self, destination: str) -> None:
        """Copy the database, consistently, to a new private file with SQLite's backup API."""
        target = Path(destination)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise ConflictError(f"{target} exists; back up to a new file") from None
        except OSError as exc:
            raise FacewardenError(f"cannot create the backup {target}: {exc.strerror}") from None
        os.close(fd)
        try:
            copy = sqlite3.connect(target)
            try:
                with self._lock, SQLITE.translated("backup"):
                    self._live().backup(copy)
            finally:
                copy.close()
            fd = os.open(target, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
