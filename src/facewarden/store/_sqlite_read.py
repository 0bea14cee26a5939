"""The read half of the SQLite store, shared by the store and its transactions.

Private to :mod:`facewarden.store.sqlite`. Every method runs on the one
connection under the store's lock, so a transaction's reads see its writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from facewarden.errors import ConflictError, FacewardenError, IntegrityError
from facewarden.privacy.audit import AuditEntry
from facewarden.store.base import FaceRow, PhotoRow, SubjectRow, TemplateRow, WatchlistRow

_TS = "%Y-%m-%dT%H:%M:%S.%fZ"
_BATCH = 1000
_IN_BATCH = 500  # ids per IN (...) list, well under SQLite's variable limit
# Constant column lists are spliced into queries (hence the S608 notes below);
# every value is always a bound parameter.
_AUDIT_COLUMNS = (
    "seq, ts, actor, action, object_type, object_id, purpose, outcome, details, "
    "prev_hash, entry_hash"
)


def ts_text(when: datetime) -> str:
    """A UTC time as fixed-width text, which sorts as the times do."""
    if when.tzinfo is None:
        raise ValueError("store times must be timezone-aware")
    return when.astimezone(UTC).strftime(_TS)


def ts_parse(text: str) -> datetime:
    """The aware UTC time written by :func:`ts_text`."""
    return datetime.strptime(text, _TS).replace(tzinfo=UTC)


@contextmanager
def translated(where: str) -> Iterator[None]:
    """Turn SQLite's exceptions into facewarden's, with what was being done."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise ConflictError(f"{where}: the write conflicts with stored data ({exc})") from None
    except sqlite3.OperationalError as exc:
        raise FacewardenError(f"{where}: database error ({exc})") from None
    except sqlite3.DatabaseError as exc:
        raise IntegrityError(f"{where}: the database is damaged ({exc})") from None


class Reads:
    """The read half, shared by the store and its transactions (same connection)."""

    def __init__(self, conn: sqlite3.Connection | None, lock: threading.RLock) -> None:
        self._conn = conn
        self._lock = lock

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock, translated("read"):
            conn = self._live()
            cursor = conn.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise FacewardenError("the store is closed")
        return self._conn

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def get_subject(self, subject_id: str) -> SubjectRow | None:
        row = self._one("SELECT * FROM subjects WHERE subject_id = ?", (subject_id,))
        return None if row is None else self._subject(row)

    def _subject_exists(self, subject_id: str) -> bool:
        # Writes only need to know the subject is there, not its encrypted fields.
        return self._one("SELECT 1 FROM subjects WHERE subject_id = ?", (subject_id,)) is not None

    def subject_id_by_index(self, id_index: str) -> str | None:
        row = self._one("SELECT subject_id FROM subjects WHERE id_index = ?", (id_index,))
        return None if row is None else str(row["subject_id"])

    def list_subjects(self, *, after: str | None = None, limit: int = 100) -> list[SubjectRow]:
        rows = self._rows(
            "SELECT * FROM subjects WHERE subject_id > ? ORDER BY subject_id LIMIT ?",
            (after or "", limit),
        )
        if not rows:
            return []
        # One query for the page's fields, not one per subject.
        fields: dict[str, dict[str, bytes]] = {r["subject_id"]: {} for r in rows}
        for f in self._rows(
            "SELECT subject_id, field, ciphertext FROM subject_fields "
            "WHERE subject_id > ? AND subject_id <= ?",
            (after or "", rows[-1]["subject_id"]),
        ):
            if f["subject_id"] in fields:
                fields[f["subject_id"]][f["field"]] = bytes(f["ciphertext"])
        return [self._subject(r, fields[r["subject_id"]]) for r in rows]

    def subject_counts(self, subject_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        ids = list(dict.fromkeys(subject_ids))
        counts = dict.fromkeys(ids, (0, 0))
        for start in range(0, len(ids), _IN_BATCH):
            batch = ids[start : start + _IN_BATCH]
            marks = ", ".join("?" * len(batch))
            for r in self._rows(
                f"SELECT s.subject_id, "  # noqa: S608 - placeholders only
                "(SELECT COUNT(*) FROM faces f WHERE f.subject_id = s.subject_id) AS faces, "
                "(SELECT COUNT(*) FROM memberships m WHERE m.subject_id = s.subject_id) AS lists "
                f"FROM subjects s WHERE s.subject_id IN ({marks})",
                tuple(batch),
            ):
                counts[r["subject_id"]] = (int(r["faces"]), int(r["lists"]))
        return counts

    def count_subjects(self) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM subjects")
        return 0 if row is None else int(row["n"])

    def subjects_updated_before(self, cutoff: datetime, *, limit: int = 1000) -> list[str]:
        rows = self._rows(
            "SELECT subject_id FROM subjects WHERE updated_at < ? ORDER BY updated_at LIMIT ?",
            (ts_text(cutoff), limit),
        )
        return [str(r["subject_id"]) for r in rows]

    def _subject(self, row: sqlite3.Row, fields: dict[str, bytes] | None = None) -> SubjectRow:
        if fields is None:
            fields = {
                f["field"]: bytes(f["ciphertext"])
                for f in self._rows(
                    "SELECT field, ciphertext FROM subject_fields WHERE subject_id = ?",
                    (row["subject_id"],),
                )
            }
        return SubjectRow(
            subject_id=row["subject_id"],
            wrapped_key=bytes(row["wrapped_key"]),
            id_index=row["id_index"],
            fields=fields,
            created_at=ts_parse(row["created_at"]),
            updated_at=ts_parse(row["updated_at"]),
        )

    _FACE_SQL = (
        "SELECT f.*, EXISTS(SELECT 1 FROM photos p WHERE p.face_id = f.face_id) "
        "AS has_photo FROM faces f"
    )

    def get_face(self, face_id: str) -> FaceRow | None:
        row = self._one(f"{self._FACE_SQL} WHERE f.face_id = ?", (face_id,))
        return None if row is None else _face(row)

    def faces_of(self, subject_id: str) -> list[FaceRow]:
        rows = self._rows(
            f"{self._FACE_SQL} WHERE f.subject_id = ? ORDER BY f.created_at, f.face_id",
            (subject_id,),
        )
        return [_face(r) for r in rows]

    def photos_of(self, subject_id: str) -> list[PhotoRow]:
        rows = self._rows(
            "SELECT p.* FROM photos p JOIN faces f USING (face_id) "
            "WHERE f.subject_id = ? ORDER BY p.created_at, p.face_id",
            (subject_id,),
        )
        return [
            PhotoRow(r["face_id"], bytes(r["ciphertext"]), ts_parse(r["created_at"])) for r in rows
        ]

    def iter_templates(self) -> Iterator[TemplateRow]:
        # Keyset pages: no lock or cursor is held between pages, so the caller
        # may write (rotation does) while iterating.
        after = ""
        while rows := self._rows(
            "SELECT f.face_id, f.subject_id, s.wrapped_key, f.model, f.template FROM faces f "
            "JOIN subjects s USING (subject_id) WHERE f.face_id > ? ORDER BY f.face_id LIMIT ?",
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
            "WHERE subject_id > ? ORDER BY subject_id LIMIT ?",
            (after, _BATCH),
        ):
            yield from ((r["subject_id"], bytes(r["wrapped_key"])) for r in rows)
            after = rows[-1]["subject_id"]

    def get_watchlist(self, watchlist_id: str) -> WatchlistRow | None:
        row = self._one("SELECT * FROM watchlists WHERE watchlist_id = ?", (watchlist_id,))
        return None if row is None else _watchlist(row)

    def watchlist_by_name(self, name: str) -> WatchlistRow | None:
        row = self._one("SELECT * FROM watchlists WHERE name = ?", (name,))
        return None if row is None else _watchlist(row)

    def list_watchlists(self) -> list[WatchlistRow]:
        return [_watchlist(r) for r in self._rows("SELECT * FROM watchlists ORDER BY name")]

    def watchlists_of(self, subject_id: str) -> list[str]:
        rows = self._rows(
            "SELECT watchlist_id FROM memberships WHERE subject_id = ? ORDER BY watchlist_id",
            (subject_id,),
        )
        return [str(r["watchlist_id"]) for r in rows]

    def iter_memberships(self) -> Iterator[tuple[str, str]]:
        after = ("", "")
        while rows := self._rows(
            "SELECT watchlist_id, subject_id FROM memberships WHERE (watchlist_id, subject_id) "
            "> (?, ?) ORDER BY watchlist_id, subject_id LIMIT ?",
            (*after, _BATCH),
        ):
            yield from ((r["watchlist_id"], r["subject_id"]) for r in rows)
            after = (rows[-1]["watchlist_id"], rows[-1]["subject_id"])

    def count_members(self, watchlist_id: str) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM memberships WHERE watchlist_id = ?", (watchlist_id,)
        )
        return 0 if row is None else int(row["n"])

    def last_audit(self) -> AuditEntry | None:
        row = self._one(f"SELECT {_AUDIT_COLUMNS} FROM audit_log ORDER BY pos DESC LIMIT 1")  # noqa: S608
        return None if row is None else _audit(row)

    def iter_audit(self) -> Iterator[AuditEntry]:
        after = -(2**63)
        while rows := self._rows(
            f"SELECT pos, {_AUDIT_COLUMNS} FROM audit_log WHERE pos > ? ORDER BY pos LIMIT ?",  # noqa: S608
            (after, _BATCH),
        ):
            yield from (_audit(r) for r in rows)
            after = rows[-1]["pos"]

    def list_audit(
        self, *, after_seq: int = 0, limit: int = 100, object_id: str | None = None
    ) -> list[AuditEntry]:
        where = "seq > ?"
        params: list[object] = [after_seq]
        if object_id is not None:
            where += " AND object_id = ?"
            params.append(object_id)
        rows = self._rows(
            f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE {where} ORDER BY seq LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [_audit(r) for r in rows]

    def audit_about(self, object_id: str) -> list[AuditEntry]:
        # Ids are random hex with a prefix, so a substring hit in the details
        # JSON is the id itself, not part of another value.
        rows = self._rows(
            f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE object_id = ? "  # noqa: S608
            "OR instr(details, ?) > 0 ORDER BY seq",
            (object_id, f'"{object_id}"'),
        )
        return [_audit(r) for r in rows]

    def import_record(self, source_key: str) -> str | None:
        row = self._one(
            "SELECT subject_id FROM import_progress WHERE source_key = ?", (source_key,)
        )
        return None if row is None else str(row["subject_id"])


def _face(row: sqlite3.Row) -> FaceRow:
    return FaceRow(
        row["face_id"],
        row["subject_id"],
        row["model"],
        bytes(row["template"]),
        ts_parse(row["created_at"]),
        has_photo=bool(row["has_photo"]),
    )


def _watchlist(row: sqlite3.Row) -> WatchlistRow:
    return WatchlistRow(
        row["watchlist_id"],
        row["name"],
        row["purpose"],
        row["lawful_basis"],
        float(row["fmr"]),
        ts_parse(row["created_at"]),
    )


def _audit(row: sqlite3.Row) -> AuditEntry:
    record: dict[str, Any] = {k: row[k] for k in _AUDIT_COLUMNS.split(", ")}
    try:
        record["details"] = json.loads(record["details"])
    except (TypeError, ValueError):
        raise IntegrityError(
            f"audit entry seq {record['seq']!r} is malformed: its details are not JSON"
        ) from None
    return AuditEntry.from_record(record)
