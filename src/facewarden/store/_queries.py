"""The base of every query mixin: running ``?``-marked SQL, and rows as row dataclasses.

Private to the stores (:mod:`facewarden.store._read`, ``_write``,
``_access_sql``, ``_camera_sql``, ``_desk_sql``, ``_pg_vectors``). What the
two backends do differently is asked of the store's
:class:`~facewarden.store._dialect.Dialect`.
"""

from __future__ import annotations

import dataclasses
import json
import operator
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, TypeVar, get_origin, get_type_hints

from facewarden.store._dialect import Dialect, Row

__all__ = ["PAGE", "Queries"]

PAGE = 1000  # rows per page of a keyset-paged read
_IN_BATCH = 500  # ids per IN (...) list, well under SQLite's variable limit
T = TypeVar("T", bound=Hashable)  # a row dataclass (frozen); its type keys a cache


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
        return list(map(_loader(self._dialect, cls), self._rows(sql, params)))

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
        if not given:
            load: Callable[[Row], T] = _loader(self._dialect, cls)
            return load(row)
        readers = _readers(self._dialect, cls)
        return cls(
            *[given[n] if n in given else row[n] if f is None else f(row[n]) for n, f in readers]
        )

    def _loaded(self, cls: type[T], rows: Iterator[Row]) -> Iterator[T]:
        """``rows`` as the row dataclass ``cls``, lazily (for the long iterations)."""
        return map(_loader(self._dialect, cls), rows)


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
    for kind in dialect.native:
        by_type.pop(kind, None)
        by_type.pop(kind | None, None)

    def reader(hint: Any) -> Callable[[Any], Any] | None:
        return _from_json if _is_json(hint) else by_type.get(hint)

    hints = get_type_hints(cls)
    return tuple((f.name, reader(hints[f.name])) for f in dataclasses.fields(cls))


@cache
def _loader(dialect: Dialect, cls: type[T]) -> Callable[[Row], T]:
    """What builds the row dataclass ``cls`` from a row: the columns picked in one C call.

    Positional, in field order, converting only the fields that need it: the
    cheapest way to a dataclass (index rebuilds read every template).
    """
    readers = _readers(dialect, cls)
    names = [name for name, _ in readers]
    pick = operator.itemgetter(*names)
    convert = [(i, f) for i, (_, f) in enumerate(readers) if f is not None]
    if len(names) == 1:  # itemgetter of one name gives the value, not a tuple
        ((name, one),) = readers
        return lambda row: cls(*[row[name] if one is None else one(row[name])])
    if not convert:
        return lambda row: cls(*pick(row))

    def load(row: Row) -> T:
        values = list(pick(row))
        for i, f in convert:
            values[i] = f(values[i])
        return cls(*values)

    return load
