"""The read half of the PostgreSQL store, shared by the store and its transactions.

Private to :mod:`facewarden.store.postgres`. Every method runs on the
store's one connection under its lock, so a transaction's reads see its
writes; outside a transaction each statement commits on its own
(autocommit), so a read never holds a snapshot open.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import errors as pg_errors

from facewarden.errors import (
    ConflictError,
    DatabaseUnavailableError,
    FacewardenError,
    IntegrityError,
)
from facewarden.privacy.audit import AuditEntry
from facewarden.store.base import FaceRow, PhotoRow, SubjectRow, TemplateRow, WatchlistRow

__all__ = ["Reads", "Row", "nearest_faces_sql", "translated", "utc", "vector_literal"]

Row = dict[str, Any]
_BATCH = 1000
# Constant column lists are spliced into queries (hence the S608 notes below);
# every value is always a bound parameter.
_AUDIT_COLUMNS = (
    "seq, ts, actor, action, object_type, object_id, purpose, outcome, details, "
    "prev_hash, entry_hash"
)


def utc(when: datetime) -> datetime:
    """An aware time in UTC (refusing naive ones, as the SQLite store does)."""
    if when.tzinfo is None:
        raise ValueError("store times must be timezone-aware")
    return when.astimezone(UTC)


def nearest_faces_sql(dim: int) -> str:
    """The query of :meth:`Reads.nearest_faces` for ``dim``-d vectors.

    Parameters: ``p`` the probe (pgvector text), ``e`` the embedder, ``w`` the
    watchlist id, ``n`` how many rows. The dimension is spliced as an integer
    literal: the partial HNSW index's predicate must be matched by a constant.
    """
    dim = int(dim)
    return (
        "SELECT v.face_id, v.subject_id, "  # noqa: S608
        f"1 - (v.embedding::vector({dim}) <=> %(p)s::vector({dim})) AS similarity "
        "FROM face_vectors v "
        f"WHERE vector_dims(v.embedding) = {dim} AND split_part(v.model, '+', 1) = %(e)s "
        "AND EXISTS (SELECT 1 FROM memberships m "
        "WHERE m.watchlist_id = %(w)s AND m.subject_id = v.subject_id) "
        f"ORDER BY v.embedding::vector({dim}) <=> %(p)s::vector({dim}) LIMIT %(n)s"
    )


def vector_literal(vector: npt.ArrayLike) -> str:
    """A float32 vector as pgvector's text form (``[0.1,...]``), exact to the last bit.

    Raises:
        ValueError: a value is not finite.
    """
    values = np.asarray(vector, dtype=np.float32).ravel()
    if not np.all(np.isfinite(values)):
        raise ValueError("vectors hold NaN or infinite values")
    # repr of the float64 holding a float32 round-trips through pgvector's strtof.
    return "[" + ",".join(repr(float(x)) for x in values) + "]"


@contextmanager
def translated(where: str) -> Iterator[None]:
    """Turn psycopg's exceptions into facewarden's, with what was being done."""
    try:
        yield
    except psycopg.IntegrityError as exc:
        raise ConflictError(f"{where}: the write conflicts with stored data ({exc})") from None
    except (pg_errors.DataCorrupted, pg_errors.IndexCorrupted) as exc:
        raise IntegrityError(f"{where}: the database is damaged ({exc})") from None
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailableError(f"{where}: the database is unreachable ({exc})") from None
    except psycopg.Error as exc:
        raise FacewardenError(f"{where}: database error ({exc})") from None


class Reads:
    """The read half; ``live`` hands out the connection or raises when closed."""

    def __init__(self, live: Callable[[], psycopg.Connection[Row]], lock: threading.RLock) -> None:
        self._get_conn = live
        self._lock = lock

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        with self._lock, translated("read"):
            return self._get_conn().execute(sql, params).fetchall()

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = %s", (key,))
        return None if row is None else str(row["value"])

    def get_subject(self, subject_id: str) -> SubjectRow | None:
        row = self._one("SELECT * FROM subjects WHERE subject_id = %s", (subject_id,))
        return None if row is None else self._subject(row)

    def _subject_exists(self, subject_id: str) -> bool:
        # Writes only need to know the subject is there, not its encrypted fields.
        return self._one("SELECT 1 FROM subjects WHERE subject_id = %s", (subject_id,)) is not None

    def subject_id_by_index(self, id_index: str) -> str | None:
        row = self._one("SELECT subject_id FROM subjects WHERE id_index = %s", (id_index,))
        return None if row is None else str(row["subject_id"])

    def list_subjects(self, *, after: str | None = None, limit: int = 100) -> list[SubjectRow]:
        rows = self._rows(
            "SELECT * FROM subjects WHERE subject_id > %s ORDER BY subject_id LIMIT %s",
            (after or "", limit),
        )
        if not rows:
            return []
        # One query for the page's fields, not one per subject.
        fields: dict[str, dict[str, bytes]] = {r["subject_id"]: {} for r in rows}
        for f in self._rows(
            "SELECT subject_id, field, ciphertext FROM subject_fields WHERE subject_id = ANY(%s)",
            (list(fields),),
        ):
            fields[f["subject_id"]][f["field"]] = bytes(f["ciphertext"])
        return [self._subject(r, fields[r["subject_id"]]) for r in rows]

    def subject_counts(self, subject_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        ids = list(dict.fromkeys(subject_ids))
        counts = dict.fromkeys(ids, (0, 0))
        if ids:
            for r in self._rows(
                "SELECT s.subject_id, "
                "(SELECT COUNT(*) FROM faces f WHERE f.subject_id = s.subject_id) AS faces, "
                "(SELECT COUNT(*) FROM memberships m WHERE m.subject_id = s.subject_id) AS lists "
                "FROM subjects s WHERE s.subject_id = ANY(%s)",
                (ids,),
            ):
                counts[r["subject_id"]] = (int(r["faces"]), int(r["lists"]))
        return counts

    def count_subjects(self) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM subjects")
        return 0 if row is None else int(row["n"])

    def subjects_updated_before(self, cutoff: datetime, *, limit: int = 1000) -> list[str]:
        rows = self._rows(
            "SELECT subject_id FROM subjects WHERE updated_at < %s ORDER BY updated_at LIMIT %s",
            (utc(cutoff), limit),
        )
        return [str(r["subject_id"]) for r in rows]

    def _subject(self, row: Row, fields: dict[str, bytes] | None = None) -> SubjectRow:
        if fields is None:
            fields = {
                f["field"]: bytes(f["ciphertext"])
                for f in self._rows(
                    "SELECT field, ciphertext FROM subject_fields WHERE subject_id = %s",
                    (row["subject_id"],),
                )
            }
        return SubjectRow(
            subject_id=row["subject_id"],
            wrapped_key=bytes(row["wrapped_key"]),
            id_index=row["id_index"],
            fields=fields,
            created_at=utc(row["created_at"]),
            updated_at=utc(row["updated_at"]),
        )

    _FACE_SQL = (
        "SELECT f.*, EXISTS(SELECT 1 FROM photos p WHERE p.face_id = f.face_id) "
        "AS has_photo FROM faces f"
    )

    def get_face(self, face_id: str) -> FaceRow | None:
        row = self._one(f"{self._FACE_SQL} WHERE f.face_id = %s", (face_id,))
        return None if row is None else _face(row)

    def faces_of(self, subject_id: str) -> list[FaceRow]:
        rows = self._rows(
            f"{self._FACE_SQL} WHERE f.subject_id = %s ORDER BY f.created_at, f.face_id",
            (subject_id,),
        )
        return [_face(r) for r in rows]

    def photos_of(self, subject_id: str) -> list[PhotoRow]:
        rows = self._rows(
            "SELECT p.* FROM photos p JOIN faces f USING (face_id) "
            "WHERE f.subject_id = %s ORDER BY p.created_at, p.face_id",
            (subject_id,),
        )
        return [PhotoRow(r["face_id"], bytes(r["ciphertext"]), utc(r["created_at"])) for r in rows]

    def iter_templates(self) -> Iterator[TemplateRow]:
        # Keyset pages: no lock or cursor is held between pages, so the caller
        # may write (rotation does) while iterating.
        after = ""
        while rows := self._rows(
            "SELECT f.face_id, f.subject_id, s.wrapped_key, f.model, f.template FROM faces f "
            "JOIN subjects s USING (subject_id) WHERE f.face_id > %s ORDER BY f.face_id LIMIT %s",
            (after, _BATCH),
        ):
            for r in rows:
                yield TemplateRow(
                    r["face_id"],
                    r["subject_id"],
                    bytes(r["wrapped_key"]),
                    r["model"],
                    bytes(r["template"]),
                )
            after = rows[-1]["face_id"]

    def iter_wrapped_keys(self) -> Iterator[tuple[str, bytes]]:
        after = ""
        while rows := self._rows(
            "SELECT subject_id, wrapped_key FROM subjects "
            "WHERE subject_id > %s ORDER BY subject_id LIMIT %s",
            (after, _BATCH),
        ):
            yield from ((r["subject_id"], bytes(r["wrapped_key"])) for r in rows)
            after = rows[-1]["subject_id"]

    def get_watchlist(self, watchlist_id: str) -> WatchlistRow | None:
        row = self._one("SELECT * FROM watchlists WHERE watchlist_id = %s", (watchlist_id,))
        return None if row is None else _watchlist(row)

    def watchlist_by_name(self, name: str) -> WatchlistRow | None:
        row = self._one("SELECT * FROM watchlists WHERE name = %s", (name,))
        return None if row is None else _watchlist(row)

    def list_watchlists(self) -> list[WatchlistRow]:
        return [_watchlist(r) for r in self._rows("SELECT * FROM watchlists ORDER BY name")]

    def watchlists_of(self, subject_id: str) -> list[str]:
        rows = self._rows(
            "SELECT watchlist_id FROM memberships WHERE subject_id = %s ORDER BY watchlist_id",
            (subject_id,),
        )
        return [str(r["watchlist_id"]) for r in rows]

    def iter_memberships(self) -> Iterator[tuple[str, str]]:
        after = ("", "")
        while rows := self._rows(
            "SELECT watchlist_id, subject_id FROM memberships WHERE (watchlist_id, subject_id) "
            "> (%s, %s) ORDER BY watchlist_id, subject_id LIMIT %s",
            (*after, _BATCH),
        ):
            yield from ((r["watchlist_id"], r["subject_id"]) for r in rows)
            after = (rows[-1]["watchlist_id"], rows[-1]["subject_id"])

    def count_members(self, watchlist_id: str) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM memberships WHERE watchlist_id = %s", (watchlist_id,)
        )
        return 0 if row is None else int(row["n"])

    def last_audit(self) -> AuditEntry | None:
        row = self._one(f"SELECT {_AUDIT_COLUMNS} FROM audit_log ORDER BY pos DESC LIMIT 1")  # noqa: S608
        return None if row is None else _audit(row)

    def iter_audit(self) -> Iterator[AuditEntry]:
        after = -(2**63)
        while rows := self._rows(
            f"SELECT pos, {_AUDIT_COLUMNS} FROM audit_log WHERE pos > %s ORDER BY pos LIMIT %s",  # noqa: S608
            (after, _BATCH),
        ):
            yield from (_audit(r) for r in rows)
            after = rows[-1]["pos"]

    def list_audit(
        self, *, after_seq: int = 0, limit: int = 100, object_id: str | None = None
    ) -> list[AuditEntry]:
        where = "seq > %s"
        params: list[object] = [after_seq]
        if object_id is not None:
            where += " AND object_id = %s"
            params.append(object_id)
        rows = self._rows(
            f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE {where} ORDER BY seq LIMIT %s",  # noqa: S608
            (*params, limit),
        )
        return [_audit(r) for r in rows]

    def audit_about(self, object_id: str) -> list[AuditEntry]:
        # Ids are random hex with a prefix, so a substring hit in the details
        # JSON is the id itself, not part of another value.
        rows = self._rows(
            f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE object_id = %s "  # noqa: S608
            "OR strpos(details, %s) > 0 ORDER BY seq",
            (object_id, f'"{object_id}"'),
        )
        return [_audit(r) for r in rows]

    def nearest_faces(
        self,
        watchlist_id: str,
        embedder: str,
        probe: npt.ArrayLike,
        count: int,
        *,
        ef_search: int = 200,
    ) -> list[tuple[str, str, float]]:
        """``(face_id, subject_id, similarity)`` of the ``count`` nearest face vectors.

        Only faces of the watchlist's members whose model was made by
        ``embedder`` (the part of the model key before ``+``), nearest
        first, by pgvector's HNSW index (cosine) when the planner finds it
        cheaper than reading the members' rows, with its iterative scan so
        the membership filter still yields ``count`` rows when there are.
        """
        literal = vector_literal(probe)
        dim = literal.count(",") + 1
        ef = min(1000, max(int(ef_search), int(count)))  # pgvector's ceiling
        with self._lock, translated("vector search"):
            conn = self._get_conn()
            with conn.transaction():
                conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
                conn.execute(f"SET LOCAL hnsw.ef_search = {ef}")
                rows = conn.execute(
                    nearest_faces_sql(dim),
                    {"p": literal, "e": embedder, "w": watchlist_id, "n": int(count)},
                ).fetchall()
        return [(r["face_id"], r["subject_id"], float(r["similarity"])) for r in rows]

    def count_face_vectors(
        self, *, watchlist_id: str | None = None, embedder: str | None = None
    ) -> int:
        """Face vectors searchable in one watchlist, or summed over all of them.

        A face in two watchlists counts twice, as in the in-memory gallery;
        with ``embedder``, only faces whose model it made.
        """
        row = self._one(
            "SELECT COUNT(*) AS n FROM face_vectors v JOIN memberships m USING (subject_id) "
            "WHERE (%s::text IS NULL OR m.watchlist_id = %s) "
            "AND (%s::text IS NULL OR split_part(v.model, '+', 1) = %s)",
            (watchlist_id, watchlist_id, embedder, embedder),
        )
        return 0 if row is None else int(row["n"])

    def templates_without_vectors(
        self, *, after: str = "", limit: int = _BATCH
    ) -> list[TemplateRow]:
        """One page, by face id after ``after``, of templates not yet in ``face_vectors``."""
        rows = self._rows(
            "SELECT f.face_id, f.subject_id, s.wrapped_key, f.model, f.template FROM faces f "
            "JOIN subjects s USING (subject_id) "
            "WHERE f.face_id > %s AND NOT EXISTS "
            "(SELECT 1 FROM face_vectors v WHERE v.face_id = f.face_id) "
            "ORDER BY f.face_id LIMIT %s",
            (after, limit),
        )
        return [
            TemplateRow(
                r["face_id"],
                r["subject_id"],
                bytes(r["wrapped_key"]),
                r["model"],
                bytes(r["template"]),
            )
            for r in rows
        ]

    def import_record(self, source_key: str) -> str | None:
        row = self._one(
            "SELECT subject_id FROM import_progress WHERE source_key = %s", (source_key,)
        )
        return None if row is None else str(row["subject_id"])


def _face(row: Row) -> FaceRow:
    return FaceRow(
        row["face_id"],
        row["subject_id"],
        row["model"],
        bytes(row["template"]),
        utc(row["created_at"]),
        has_photo=bool(row["has_photo"]),
    )


def _watchlist(row: Row) -> WatchlistRow:
    return WatchlistRow(
        row["watchlist_id"],
        row["name"],
        row["purpose"],
        row["lawful_basis"],
        float(row["fmr"]),
        utc(row["created_at"]),
    )


def _audit(row: Row) -> AuditEntry:
    record: dict[str, Any] = {k: row[k] for k in _AUDIT_COLUMNS.split(", ")}
    try:
        record["details"] = json.loads(record["details"])
    except (TypeError, ValueError):
        raise IntegrityError(
            f"audit entry seq {record['seq']!r} is malformed: its details are not JSON"
        ) from None
    return AuditEntry.from_record(record)
