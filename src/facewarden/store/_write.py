"""The write half of both stores: one transaction's writes (and its reads).

Private to the stores, which open the transaction (SQLite's ``BEGIN
IMMEDIATE``, PostgreSQL's writers' advisory lock), commit or roll it back,
and hand this object to the caller inside the ``with`` block; it refuses use
after it. A refused write (a duplicate key) leaves the transaction usable on
both (see :meth:`facewarden.store._dialect.Dialect.execute`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from facewarden.errors import ConflictError, FacewardenError, NotFoundError
from facewarden.privacy.audit import AuditEntry
from facewarden.store._access_sql import AccessWrites
from facewarden.store._camera_sql import CameraWrites
from facewarden.store._desk_sql import DeskWrites
from facewarden.store._dialect import Dialect
from facewarden.store._read import Reads
from facewarden.store.base import FaceRow, PhotoRow, SubjectRow, WatchlistRow

__all__ = ["Writes"]


class Writes(Reads, AccessWrites, CameraWrites, DeskWrites):
    """Every write of the contract, in one transaction; unusable once the block has ended.

    The queries of ``base.py``'s part are here, the others' in ``_access_sql.py``,
    ``_camera_sql.py`` and ``_desk_sql.py``.
    """

    def __init__(self, dialect: Dialect, conn: Any, lock: threading.RLock) -> None:
        super().__init__(dialect, self._live, lock)
        self._conn: Any = conn

    def end(self) -> None:
        """Make this object unusable (called by the store when the block ends)."""
        self._conn = None

    def _live(self) -> Any:
        if self._conn is None:
            raise FacewardenError("this transaction has ended")
        return self._conn

    def set_meta(self, key: str, value: str) -> None:
        self._insert("set meta", "meta", {"key": key, "value": value}, upsert=["key"])

    def insert_subject(self, row: SubjectRow) -> None:
        if row.id_index is not None and self.subject_id_by_index(row.id_index) is not None:
            raise _duplicate_id_number()
        self._insert("insert subject", "subjects", self._fields(row, skip=["fields"]))
        self._set_fields(row.subject_id, row.fields)

    def update_subject(
        self,
        subject_id: str,
        *,
        updated_at: datetime,
        fields: Mapping[str, bytes | None] | None = None,
        id_index: str | None = None,
        clear_id_index: bool = False,
    ) -> None:
        if not self._subject_exists(subject_id):
            raise NotFoundError(f"no subject {subject_id}")
        if id_index is not None and self.subject_id_by_index(id_index) not in (None, subject_id):
            raise _duplicate_id_number()
        if id_index is not None or clear_id_index:
            self._exec(
                "update subject",
                "UPDATE subjects SET id_index = ? WHERE subject_id = ?",
                (id_index, subject_id),
            )
        self._set_fields(subject_id, fields or {})
        self._exec(
            "update subject",
            "UPDATE subjects SET updated_at = ? WHERE subject_id = ?",
            (self._dialect.time_in(updated_at), subject_id),
        )

    def _set_fields(self, subject_id: str, fields: Mapping[str, bytes | None]) -> None:
        for name, ciphertext in fields.items():
            if ciphertext is None:
                self._exec(
                    "update subject",
                    "DELETE FROM subject_fields WHERE subject_id = ? AND field = ?",
                    (subject_id, name),
                )
            else:
                self._insert(
                    "update subject",
                    "subject_fields",
                    {"subject_id": subject_id, "field": name, "ciphertext": ciphertext},
                    upsert=["subject_id", "field"],
                )

    def set_wrapped_key(self, subject_id: str, wrapped_key: bytes) -> None:
        if not self._changed(
            "rewrap key",
            "UPDATE subjects SET wrapped_key = ? WHERE subject_id = ?",
            (wrapped_key, subject_id),
        ):
            raise NotFoundError(f"no subject {subject_id}")

    def delete_subject(self, subject_id: str) -> bool:
        return self._changed(
            "delete subject", "DELETE FROM subjects WHERE subject_id = ?", (subject_id,)
        )

    def insert_face(self, row: FaceRow) -> None:
        if not self._subject_exists(row.subject_id):
            raise NotFoundError(f"no subject {row.subject_id}")
        self._insert("insert face", "faces", self._fields(row, skip=["has_photo"]))

    def set_template(self, face_id: str, template: bytes) -> None:
        if not self._changed(
            "rotate template",
            "UPDATE faces SET template = ? WHERE face_id = ?",
            (template, face_id),
        ):
            raise NotFoundError(f"no face {face_id}")

    def delete_face(self, face_id: str) -> bool:
        return self._changed("delete face", "DELETE FROM faces WHERE face_id = ?", (face_id,))

    def insert_photo(self, row: PhotoRow) -> None:
        if not self._exists("SELECT 1 FROM faces WHERE face_id = ?", (row.face_id,)):
            raise NotFoundError(f"no face {row.face_id}")
        self._insert("insert photo", "photos", self._fields(row))

    def delete_photos_before(self, cutoff: datetime) -> int:
        return self._exec(
            "purge photos",
            "DELETE FROM photos WHERE created_at < ?",
            (self._dialect.time_in(cutoff),),
        )

    def insert_watchlist(self, row: WatchlistRow) -> None:
        if self._exists("SELECT 1 FROM watchlists WHERE name = ?", (row.name,)):
            raise ConflictError(f"a watchlist called {row.name!r} already exists")
        self._insert("insert watchlist", "watchlists", self._fields(row))

    def add_membership(self, watchlist_id: str, subject_id: str, added_at: datetime) -> bool:
        if not self._exists("SELECT 1 FROM watchlists WHERE watchlist_id = ?", (watchlist_id,)):
            raise NotFoundError(f"no watchlist {watchlist_id}")
        if not self._subject_exists(subject_id):
            raise NotFoundError(f"no subject {subject_id}")
        added = self._dialect.time_in(added_at)
        member = {"watchlist_id": watchlist_id, "subject_id": subject_id, "added_at": added}
        return self._insert("add to watchlist", "memberships", member, or_ignore=True) > 0

    def remove_membership(self, watchlist_id: str, subject_id: str) -> bool:
        return self._changed(
            "remove from watchlist",
            "DELETE FROM memberships WHERE watchlist_id = ? AND subject_id = ?",
            (watchlist_id, subject_id),
        )

    def append_audit(self, entry: AuditEntry) -> None:
        record = entry.to_record()
        record["details"] = json.dumps(record["details"], sort_keys=True, separators=(",", ":"))
        self._insert("append audit entry", "audit_log", record)

    def record_import(self, source_key: str, subject_id: str, done_at: datetime) -> None:
        done = self._dialect.time_in(done_at)
        record = {"source_key": source_key, "subject_id": subject_id, "done_at": done}
        self._insert("record import", "import_progress", record)

    def delete_imports_before(self, cutoff: datetime) -> int:
        return self._exec(
            "purge import records",
            "DELETE FROM import_progress WHERE done_at < ?",
            (self._dialect.time_in(cutoff),),
        )


def _duplicate_id_number() -> ConflictError:
    return ConflictError("another subject is already enrolled with this ID number")
