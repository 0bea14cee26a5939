"""The read half of both stores, shared by each store and its transactions.

Private to the stores. :class:`Reads` is the whole :class:`~facewarden.store.base.Reader`:
the queries of ``base.py``'s part are here, the others' in ``_access_sql.py``,
``_camera_sql.py`` and ``_desk_sql.py``. Every method runs on the store's one
connection under its lock, so a transaction's reads see its writes; the SQL
is written once and spoken in the store's dialect (:mod:`facewarden.store._dialect`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from facewarden.errors import IntegrityError
from facewarden.privacy.audit import AuditEntry
from facewarden.store._access_sql import AccessReads
from facewarden.store._camera_sql import CameraReads
from facewarden.store._desk_sql import DeskReads
from facewarden.store._dialect import Row
from facewarden.store.base import FaceRow, PhotoRow, SubjectRow, TemplateRow, WatchlistRow

__all__ = ["TEMPLATES_SQL", "Reads"]

# Constant column lists are spliced into queries (hence the S608 notes below);
# every value is always a bound parameter.
_AUDIT_COLUMNS = (
    "seq, ts, actor, action, object_type, object_id, purpose, outcome, details, "
    "prev_hash, entry_hash"
)
_FACE_SQL = (
    "SELECT f.*, EXISTS(SELECT 1 FROM photos p WHERE p.face_id = f.face_id) "
    "AS has_photo FROM faces f"
)
TEMPLATES_SQL = (
    "SELECT f.face_id, f.subject_id, s.wrapped_key, f.model, f.template FROM faces f "
    "JOIN subjects s USING (subject_id)"
)
"""A face's template with its subject's wrapped key; add the WHERE and ORDER BY."""


class Reads(AccessReads, CameraReads, DeskReads):
    """Every read of the contract (see :class:`facewarden.store.base.Reader`)."""

    def get_meta(self, key: str) -> str | None:
        return self._text("SELECT value FROM meta WHERE key = ?", (key,))

    def get_subject(self, subject_id: str) -> SubjectRow | None:
        row = self._one("SELECT * FROM subjects WHERE subject_id = ?", (subject_id,))
        return None if row is None else self._subject(row)

    def _subject_exists(self, subject_id: str) -> bool:
        # Writes only need to know the subject is there, not its encrypted fields.
        return self._exists("SELECT 1 FROM subjects WHERE subject_id = ?", (subject_id,))

    def subject_id_by_index(self, id_index: str) -> str | None:
        return self._text("SELECT subject_id FROM subjects WHERE id_index = ?", (id_index,))

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
        for r in self._rows_in(
            "SELECT s.subject_id, "
            "(SELECT COUNT(*) FROM faces f WHERE f.subject_id = s.subject_id) AS faces, "
            "(SELECT COUNT(*) FROM memberships m WHERE m.subject_id = s.subject_id) AS lists "
            "FROM subjects s WHERE s.subject_id IN ({marks})",
            ids,
        ):
            counts[r["subject_id"]] = (int(r["faces"]), int(r["lists"]))
        return counts

    def count_subjects(self) -> int:
        return self._count("SELECT COUNT(*) AS n FROM subjects")

    def subjects_updated_before(self, cutoff: datetime, *, limit: int = 1000) -> list[str]:
        return self._texts(
            "SELECT subject_id FROM subjects WHERE updated_at < ? ORDER BY updated_at LIMIT ?",
            (self._dialect.time_in(cutoff), limit),
        )

    def _subject(self, row: Row, fields: dict[str, bytes] | None = None) -> SubjectRow:
        if fields is None:
            fields = {
                f["field"]: bytes(f["ciphertext"])
                for f in self._rows(
                    "SELECT field, ciphertext FROM subject_fields WHERE subject_id = ?",
                    (row["subject_id"],),
                )
            }
        return self._load(SubjectRow, row, fields=fields)

    def get_face(self, face_id: str) -> FaceRow | None:
        return self._get(FaceRow, f"{_FACE_SQL} WHERE f.face_id = ?", (face_id,))

    def faces_of(self, subject_id: str) -> list[FaceRow]:
        return self._all(
            FaceRow,
            f"{_FACE_SQL} WHERE f.subject_id = ? ORDER BY f.created_at, f.face_id",
            (subject_id,),
        )

    def photos_of(self, subject_id: str) -> list[PhotoRow]:
        return self._all(
            PhotoRow,
            "SELECT p.* FROM photos p JOIN faces f USING (face_id) "
            "WHERE f.subject_id = ? ORDER BY p.created_at, p.face_id",
            (subject_id,),
        )

    def get_photo(self, face_id: str) -> PhotoRow | None:
        return self._get(PhotoRow, "SELECT * FROM photos WHERE face_id = ?", (face_id,))

    def iter_templates(self) -> Iterator[TemplateRow]:
        sql = f"{TEMPLATES_SQL} WHERE f.face_id > ? ORDER BY f.face_id LIMIT ?"
        return self._loaded(TemplateRow, self._pages(sql, ["face_id"], [""]))

    def iter_wrapped_keys(self) -> Iterator[tuple[str, bytes]]:
        sql = (
            "SELECT subject_id, wrapped_key FROM subjects "
            "WHERE subject_id > ? ORDER BY subject_id LIMIT ?"
        )
        rows = self._pages(sql, ["subject_id"], [""])
        return ((r["subject_id"], bytes(r["wrapped_key"])) for r in rows)

    def get_watchlist(self, watchlist_id: str) -> WatchlistRow | None:
        sql = "SELECT * FROM watchlists WHERE watchlist_id = ?"
        return self._get(WatchlistRow, sql, (watchlist_id,))

    def watchlist_by_name(self, name: str) -> WatchlistRow | None:
        return self._get(WatchlistRow, "SELECT * FROM watchlists WHERE name = ?", (name,))

    def list_watchlists(self) -> list[WatchlistRow]:
        return self._all(WatchlistRow, "SELECT * FROM watchlists ORDER BY name")

    def watchlists_of(self, subject_id: str) -> list[str]:
        return self._texts(
            "SELECT watchlist_id FROM memberships WHERE subject_id = ? ORDER BY watchlist_id",
            (subject_id,),
        )

    def iter_memberships(self) -> Iterator[tuple[str, str]]:
        key = ["watchlist_id", "subject_id"]
        sql = (
            "SELECT watchlist_id, subject_id FROM memberships WHERE (watchlist_id, subject_id) "
            "> (?, ?) ORDER BY watchlist_id, subject_id LIMIT ?"
        )
        return ((r["watchlist_id"], r["subject_id"]) for r in self._pages(sql, key, ["", ""]))

    def count_members(self, watchlist_id: str) -> int:
        return self._count(
            "SELECT COUNT(*) AS n FROM memberships WHERE watchlist_id = ?", (watchlist_id,)
        )

    def last_audit(self) -> AuditEntry | None:
        row = self._one(f"SELECT {_AUDIT_COLUMNS} FROM audit_log ORDER BY pos DESC LIMIT 1")  # noqa: S608
        return None if row is None else _audit(row)

    def iter_audit(self) -> Iterator[AuditEntry]:
        sql = f"SELECT pos, {_AUDIT_COLUMNS} FROM audit_log WHERE pos > ? ORDER BY pos LIMIT ?"  # noqa: S608
        return (_audit(r) for r in self._pages(sql, ["pos"], [-(2**63)]))

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

    def audit_about(
        self,
        object_id: str,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        with_sightings: bool = False,
    ) -> list[AuditEntry]:
        # Ids are random hex with a prefix, so a substring hit in the details
        # JSON is the id itself, not part of another value.
        sightings = (
            " OR object_id IN (SELECT sighting_id FROM sightings WHERE subject_id = ?)"
            if with_sightings
            else ""
        )
        rows = self._rows(
            f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE seq > ? AND (object_id = ? "  # noqa: S608
            f"OR {self._dialect.find}(details, ?) > 0{sightings}) ORDER BY seq"
            + ("" if limit is None else " LIMIT ?"),
            (
                after_seq,
                object_id,
                f'"{object_id}"',
                *((object_id,) if with_sightings else ()),
                *(() if limit is None else (limit,)),
            ),
        )
        return [_audit(r) for r in rows]

    def audit_of(self, object_ids: Sequence[str]) -> list[AuditEntry]:
        rows = self._rows_in(
            f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE object_id IN ({{marks}})",  # noqa: S608
            list(dict.fromkeys(object_ids)),
        )
        return sorted(map(_audit, rows), key=lambda e: e.seq)

    def import_record(self, source_key: str) -> str | None:
        return self._text(
            "SELECT subject_id FROM import_progress WHERE source_key = ?", (source_key,)
        )

    def import_sources_of(self, subject_id: str) -> list[str]:
        return self._texts(
            "SELECT source_key FROM import_progress WHERE subject_id = ?", (subject_id,)
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
