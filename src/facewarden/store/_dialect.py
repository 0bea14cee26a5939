"""What differs between facewarden's SQLite and PostgreSQL SQL, and the queries' toolkit.

Private to the stores. Queries are written once, with ``?`` marks, and run
through :class:`Queries`, the base of every query mixin, which maps rows to
the row dataclasses; the store says which :class:`Dialect` it speaks:

* parameters: ``?`` (SQLite) or ``%s`` (psycopg), translated once per query
  text; a literal ``%`` or ``?`` has no place in shared SQL (bind it as a
  parameter), and SQL already in psycopg's form passes through unchanged;
* times: SQLite keeps fixed-width UTC text (:func:`ts_text`, which sorts as
  the times do), PostgreSQL ``timestamptz`` (:func:`utc`); both refuse naive
  times;
* rows: ``sqlite3.Row`` or a ``dict``, both read by column name (:class:`Row`);
  booleans come back as ``0``/``1`` or ``bool``;
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

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any, ClassVar, Protocol, TypeVar, get_origin, get_type_hints

import psycopg
from psycopg import errors as pg_errors

from facewarden.errors import (
    ConflictError,
    DatabaseUnavailableError,
    FacewardenError,
    IntegrityError,
)

__all__ = [
    "POSTGRES",
    "SQLITE",
    "Dialect",
    "PgRow",
    "PostgresDialect",
    "Queries",
    "Row",
    "SqliteDialect",
    "ts_parse",
    "ts_text",
    "utc",
]

PgRow = dict[str, Any]
"""A row as the PostgreSQL connections return it (``dict_row``)."""

_TS = "%Y-%m-%dT%H:%M:%S.%fZ"
PAGE = 1000  # rows per page of a keyset-paged read
_IN_BATCH = 500  # ids per IN (...) list, well under SQLite's variable limit
T = TypeVar("T", bound=Hashable)  # a row dataclass (frozen); its type keys a cache


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
    """The aware UTC time written by :func:`ts_text`."""
    return datetime.strptime(text, _TS).replace(tzinfo=UTC)


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
    """

    name: ClassVar[str]
    find: ClassVar[str]
    blob: ClassVar[str]
    time: ClassVar[str]

    def __repr__(self) -> str:
        return f"<{self.name} dialect>"

    def time_in(self, when: datetime) -> Any:
        """An aware time as a parameter. Raises ValueError for a naive one."""
        raise NotImplementedError

    def time_out(self, value: Any) -> datetime:
        """A stored time as an aware UTC ``datetime``."""
        raise NotImplementedError

    def translated(self, where: str) -> AbstractContextManager[None]:
        """A context manager turning the driver's exceptions into facewarden's.

        ``where`` says what was being done; it starts each message.
        """
        raise NotImplementedError

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

    def time_in(self, when: datetime) -> Any:
        return ts_text(when)

    def time_out(self, value: Any) -> datetime:
        return ts_parse(value)

    @contextmanager
    def translated(self, where: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"{where}: the write conflicts with stored data ({exc})") from None
        except sqlite3.OperationalError as exc:
            raise FacewardenError(f"{where}: database error ({exc})") from None
        except sqlite3.DatabaseError as exc:
            raise IntegrityError(f"{where}: the database is damaged ({exc})") from None

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

    def time_in(self, when: datetime) -> Any:
        return utc(when)

    def time_out(self, value: Any) -> datetime:
        return utc(value)

    @contextmanager
    def translated(self, where: str) -> Iterator[None]:
        try:
            yield
        except psycopg.IntegrityError as exc:
            raise ConflictError(f"{where}: the write conflicts with stored data ({exc})") from None
        except (pg_errors.DataCorrupted, pg_errors.IndexCorrupted) as exc:
            raise IntegrityError(f"{where}: the database is damaged ({exc})") from None
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailableError(
                f"{where}: the database is unreachable ({exc})"
            ) from None
        except psycopg.Error as exc:
            raise FacewardenError(f"{where}: database error ({exc})") from None

    def fetch(self, conn: psycopg.Connection[PgRow], sql: str, params: Sequence[Any]) -> list[Any]:
        return conn.execute(_percent_s(sql), params).fetchall()

    def execute(self, conn: psycopg.Connection[PgRow], sql: str, params: Sequence[Any]) -> int:
        # A savepoint, so that a refused write leaves the transaction usable.
        with conn.transaction():
            return conn.execute(_percent_s(sql), params).rowcount


SQLITE = SqliteDialect()
POSTGRES = PostgresDialect()


class Queries:
    """The base of the query mixins: one connection, its lock, and the dialect it speaks.

    ``live`` hands out the connection, or raises when the store is closed or
    the transaction has ended. Every statement runs under ``lock``, so a
    transaction's reads see its writes and other threads wait meanwhile.

    Row dataclasses map to tables by name: a field is the column of the same
    name (:meth:`_load` reads one, :meth:`_fields` writes one), converted by
    the field's type: times, bytes and flags as the dialect keeps them,
    tuples and mappings as JSON text; a field stored otherwise (in another
    table) is given explicitly.
    """

    def __init__(self, dialect: Dialect, live: Callable[[], Any], lock: threading.RLock) -> None:
        self._dialect = dialect
        self._get_conn = live
        self._lock = lock

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of a query written with ``?`` marks (each a :class:`Row`)."""
        with self._lock, self._dialect.translated("read"):
            return self._dialect.fetch(self._get_conn(), sql, params)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row of a query, or None."""
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _get(self, cls: type[T], sql: str, params: Sequence[Any] = ()) -> T | None:
        """The first row of a query as the row dataclass ``cls``, or None."""
        row = self._one(sql, params)
        return None if row is None else self._load(cls, row)

    def _all(self, cls: type[T], sql: str, params: Sequence[Any] = ()) -> list[T]:
        """Every row of a query as the row dataclass ``cls``."""
        return [self._load(cls, row) for row in self._rows(sql, params)]

    def _texts(self, sql: str, params: Sequence[Any] = ()) -> list[str]:
        """The one column (never NULL) of every row of a query, as text."""
        return [str(row[next(iter(row.keys()))]) for row in self._rows(sql, params)]

    def _text(self, sql: str, params: Sequence[Any] = ()) -> str | None:
        """The one column of a query's first row, as text; None when there is no row."""
        return next(iter(self._texts(sql, params)), None)

    def _count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """The ``n`` of a ``SELECT COUNT(*) AS n`` query."""
        return int(self._rows(sql, params)[0]["n"])

    def _exists(self, sql: str, params: Sequence[Any] = ()) -> bool:
        """Whether a query finds a row."""
        return bool(self._rows(sql, params))

    def _rows_in(self, sql: str, ids: Sequence[str]) -> list[Any]:
        """The rows of ``sql``, whose ``IN ({marks})`` list takes ``ids``, in bounded batches."""
        rows: list[Any] = []
        for start in range(0, len(ids), _IN_BATCH):
            batch = ids[start : start + _IN_BATCH]
            rows += self._rows(sql.format(marks=", ".join("?" * len(batch))), batch)
        return rows

    def _pages(self, sql: str, key: Sequence[str], start: Sequence[Any]) -> Iterator[Any]:
        """Every row of a query paged by ``key``: ``WHERE (key) > (?, ...) ... LIMIT ?``.

        No lock or cursor is held between pages, so the caller may write
        (rotation does) while iterating.
        """
        while rows := self._rows(sql, (*start, PAGE)):
            yield from rows
            start = [rows[-1][column] for column in key]

    def _exec(self, where: str, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write; ``where`` names it in errors. Returns the rows it touched."""
        with self._lock, self._dialect.translated(where):
            return self._dialect.execute(self._get_conn(), sql, params)

    def _changed(self, where: str, sql: str, params: Sequence[Any] = ()) -> bool:
        """Run one write; whether it touched a row."""
        return self._exec(where, sql, params) > 0

    def _insert(
        self,
        where: str,
        table: str,
        values: dict[str, Any],
        *,
        upsert: Sequence[str] = (),
        or_ignore: bool = False,
    ) -> int:
        """Insert ``values`` (column -> parameter) into ``table``; the rows it touched.

        Table and column names come from this package's code, never from input.
        ``upsert``: the key columns whose conflict replaces the other columns
        instead; ``or_ignore``: a conflict inserts nothing.
        """
        sql = _insert_sql(table, tuple(values), tuple(upsert), or_ignore)
        return self._exec(where, sql, list(values.values()))

    def _fields(self, row: Hashable, *, skip: Sequence[str] = ()) -> dict[str, Any]:
        """A row dataclass as column -> parameter, but the fields ``skip`` names."""
        values = {}
        for name, write in _writers(self._dialect, type(row)):
            if name not in skip:
                value = getattr(row, name)
                values[name] = value if write is None else write(value)
        return values

    def _load(self, cls: type[T], row: Row, **given: Any) -> T:
        """The row dataclass ``cls`` from a row with its fields' columns; ``given`` others."""
        # Positional, in field order: the cheapest call (index rebuilds read millions).
        readers = _readers(self._dialect, cls)
        if given:
            return cls(
                *[
                    given[n] if n in given else row[n] if f is None else f(row[n])
                    for n, f in readers
                ]
            )
        return cls(*[row[n] if f is None else f(row[n]) for n, f in readers])


@lru_cache(maxsize=256)
def _insert_sql(table: str, columns: tuple[str, ...], upsert: tuple[str, ...], ignore: bool) -> str:
    marks = ", ".join("?" * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 - names from code
    if upsert:
        sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in upsert)
        sql += f" ON CONFLICT ({', '.join(upsert)}) DO UPDATE SET {sets}"
    elif ignore:
        sql += " ON CONFLICT DO NOTHING"
    return sql


def _is_json(hint: Any) -> bool:
    return get_origin(hint) in (tuple, Mapping)


def _to_json(value: Any) -> str:
    return json.dumps(dict(value) if isinstance(value, Mapping) else value, sort_keys=True)


def _from_json(text: str) -> Any:
    def tuples(value: Any) -> Any:
        return tuple(tuples(v) for v in value) if isinstance(value, list) else value

    return tuples(json.loads(text))


def _nullable(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


@cache
def _writers(dialect: Dialect, cls: type) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """Each field of ``cls`` with what turns its value into a parameter (None: as is)."""
    by_type = {datetime: dialect.time_in, datetime | None: _nullable(dialect.time_in)}

    def writer(hint: Any) -> Callable[[Any], Any] | None:
        return _to_json if _is_json(hint) else by_type.get(hint)

    hints = get_type_hints(cls)
    return tuple((f.name, writer(hints[f.name])) for f in dataclasses.fields(cls))


@cache
def _readers(dialect: Dialect, cls: type) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """Each field of ``cls`` with what turns its stored value into the field's (None: as is)."""
    by_type: dict[Any, Callable[[Any], Any]] = {
        datetime: dialect.time_out,
        datetime | None: _nullable(dialect.time_out),
        bytes: bytes,
        bytes | None: _nullable(bytes),
        bool: bool,
        int: int,
        float: float,
    }

    def reader(hint: Any) -> Callable[[Any], Any] | None:
        return _from_json if _is_json(hint) else by_type.get(hint)

    hints = get_type_hints(cls)
    return tuple((f.name, reader(hints[f.name])) for f in dataclasses.fields(cls))
