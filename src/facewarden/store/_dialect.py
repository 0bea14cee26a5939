"""What differs between facewarden's SQLite and PostgreSQL SQL, small and explicit.

Private to the stores. Queries are written once, with ``?`` marks, and run
through :class:`~facewarden.store._queries.Queries`, the base of every query
mixin; the store says which :class:`Dialect` it speaks:

* parameters: ``?`` (SQLite) or ``%s`` (psycopg), translated once per query
  text; a literal ``%`` or ``?`` has no place in shared SQL (bind it as a
  parameter), and SQL already in psycopg's form passes through unchanged;
* times: SQLite keeps fixed-width UTC text (:func:`ts_text`, which sorts as
  the times do), PostgreSQL ``timestamptz`` (:func:`utc`); both refuse naive
  times;
* rows: ``sqlite3.Row`` or a ``dict``, both read by column name (:class:`Row`);
  booleans come back as ``0``/``1`` or ``bool`` (:attr:`Dialect.native` says
  which field types each driver returns as they are, needing no conversion);
* writes: PostgreSQL runs each in a savepoint, so a refused write (a
  duplicate key) leaves the transaction usable, as SQLite does by itself;
* exceptions: each driver's become facewarden's (:meth:`Dialect.translated`);
* a few spellings (:attr:`Dialect.find`, :attr:`Dialect.blob`, :attr:`Dialect.time`).

Needing no hook: upserts (``INSERT ... ON CONFLICT (cols) DO UPDATE SET c =
excluded.c`` and ``ON CONFLICT DO NOTHING``, SQLite 3.24+) and ``RETURNING``
(SQLite 3.35+) are written the same for both. What only PostgreSQL has
(pgvector, advisory locks) lives in its own modules.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ClassVar, Protocol

import psycopg
from psycopg import errors as pg_errors

from facewarden.errors import (
    ConflictError,
    DatabaseUnavailableError,
    FacewardenError,
    IntegrityError,
    InvalidInputError,
)

__all__ = [
    "POSTGRES",
    "SQLITE",
    "Dialect",
    "PgRow",
    "PostgresDialect",
    "Row",
    "SqliteDialect",
    "ts_parse",
    "ts_text",
    "utc",
]

PgRow = dict[str, Any]
"""A row as the PostgreSQL connections return it (``dict_row``)."""

_TS = "%Y-%m-%dT%H:%M:%S.%fZ"
_CONFLICT = "the write conflicts with stored data"
_DAMAGED = "the database is damaged"
_Kinds = type[Exception] | tuple[type[Exception], ...]


class Row(Protocol):
    """A result row of either backend, read by column name."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Any: ...


def ts_text(when: datetime) -> str:
    """A UTC time as fixed-width text, which sorts as the times do (SQLite's form)."""
    if when.tzinfo is None:
        raise ValueError("store times must be timezone-aware")
    return when.astimezone(UTC).strftime(_TS)


def ts_parse(text: str) -> datetime:
    """The aware UTC time written by :func:`ts_text`.

    ``fromisoformat`` reads that form about 50 times faster than ``strptime``,
    which was most of the time a desk page of alerts took to read on SQLite;
    the ``Z`` check keeps a time without its zone refused, as before.
    """
    if not text.endswith("Z"):
        raise ValueError(f"not a store time (UTC, ending in Z): {text!r}")
    return datetime.fromisoformat(text)


def utc(when: datetime) -> datetime:
    """An aware time in UTC (PostgreSQL's form; refusing naive ones, as SQLite's does)."""
    if when.tzinfo is None:
        raise ValueError("store times must be timezone-aware")
    return when.astimezone(UTC)


@lru_cache(maxsize=1024)
def _percent_s(text: str) -> str:
    # Query texts are module constants (or built from a few fixed pieces), so
    # the cache holds them all and each is translated once.
    return text.replace("?", "%s")


class Dialect:
    """One backend's answers to what differs; stateless (use :data:`SQLITE`, :data:`POSTGRES`).

    Attributes:
        name: ``sqlite`` or ``postgres``.
        find: the function giving the 1-based position of a substring (0: absent).
        blob: the type name of a bytes column (also for ``CAST(? AS ...)``).
        time: the type name of a time column (what :meth:`time_in` writes).
        native: the field types whose columns the driver already returns as
            exactly that type (rows are built without converting them;
            ``tests/store/test_row_values.py`` holds both drivers to it).
        errors: which of the driver's exceptions become which of facewarden's
            (the first that matches), and what the message says of it.
    """

    name: ClassVar[str]
    find: ClassVar[str]
    blob: ClassVar[str]
    time: ClassVar[str]
    native: ClassVar[frozenset[type]]
    errors: ClassVar[tuple[tuple[_Kinds, type[FacewardenError], str], ...]]

    def __repr__(self) -> str:
        return f"<{self.name} dialect>"

    def time_in(self, when: datetime) -> Any:
        """An aware time as a parameter. Raises ValueError for a naive one."""
        raise NotImplementedError

    def time_out(self, value: Any) -> datetime:
        """A stored time as an aware UTC ``datetime``."""
        raise NotImplementedError

    @contextmanager
    def translated(self, where: str) -> Iterator[None]:
        """Turn the driver's exceptions into facewarden's; ``where`` starts each message."""
        try:
            yield
        except Exception as exc:
            for kinds, error, what in self.errors:
                if isinstance(exc, kinds):
                    raise error(f"{where}: {what} ({exc})") from None
            raise

    def fetch(self, conn: Any, sql: str, params: Sequence[Any]) -> list[Any]:
        """All rows of a query written with ``?`` marks."""
        raise NotImplementedError

    def execute(self, conn: Any, sql: str, params: Sequence[Any]) -> int:
        """Run one write (``?`` marks) inside the open transaction; the rows it touched."""
        raise NotImplementedError


class SqliteDialect(Dialect):
    """SQLite: ``?`` marks, times as fixed-width UTC text, ``sqlite3.Row`` rows."""

    name = "sqlite"
    find = "instr"
    blob = "BLOB"
    time = "TEXT"
    # BLOB, INTEGER and REAL columns; flags are stored as 0/1 and converted.
    native = frozenset({bytes, int, float})
    errors = (
        (sqlite3.IntegrityError, ConflictError, _CONFLICT),
        (sqlite3.OperationalError, FacewardenError, "database error"),
        (sqlite3.DatabaseError, IntegrityError, _DAMAGED),
    )

    def time_in(self, when: datetime) -> Any:
        return ts_text(when)

    def time_out(self, value: Any) -> datetime:
        return ts_parse(value)

    def fetch(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
        cursor = conn.execute(sql, params)
        cursor.row_factory = sqlite3.Row
        return cursor.fetchall()

    def execute(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
        # A refused statement is undone by SQLite alone; the transaction goes on.
        return conn.execute(sql, params).rowcount


class PostgresDialect(Dialect):
    """PostgreSQL through psycopg: ``%s`` marks, ``timestamptz``, ``dict`` rows."""

    name = "postgres"
    find = "strpos"
    blob = "bytea"
    time = "timestamptz"
    native = frozenset({bytes, int, float, bool})
    errors = (
        (psycopg.IntegrityError, ConflictError, _CONFLICT),
        ((pg_errors.DataCorrupted, pg_errors.IndexCorrupted), IntegrityError, _DAMAGED),
        (psycopg.OperationalError, DatabaseUnavailableError, "the database is unreachable"),
        # A value the server refuses (a NUL in text, a number out of range): the caller's.
        (psycopg.DataError, InvalidInputError, "a value cannot be stored"),
        (psycopg.Error, FacewardenError, "database error"),
    )

    def time_in(self, when: datetime) -> Any:
        return utc(when)

    def time_out(self, value: Any) -> datetime:
        return utc(value)

    def fetch(self, conn: psycopg.Connection[PgRow], sql: str, params: Sequence[Any]) -> list[Any]:
        return conn.execute(_percent_s(sql), params).fetchall()

    def execute(self, conn: psycopg.Connection[PgRow], sql: str, params: Sequence[Any]) -> int:
        # A savepoint, so that a refused write leaves the transaction usable.
        with conn.transaction():
            return conn.execute(_percent_s(sql), params).rowcount


SQLITE = SqliteDialect()
POSTGRES = PostgresDialect()
