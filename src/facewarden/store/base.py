"""The Store protocol: what the service layer needs from persistence, and nothing more.

A store keeps opaque values: every personal field, template and photo
arrives already encrypted, ID numbers arrive as blind-index tokens, and
subject ids are random. It applies no business rules; it guarantees
atomicity (everything written inside one :meth:`Store.transaction` commits
or none of it does), durability of a committed transaction, uniqueness where
a row dataclass says so, and cascading deletes (erasing a subject removes
its fields, faces, photos, memberships and import records).

``tests/store/test_contract*.py`` are the contract: both stores
(:class:`~facewarden.store.sqlite.SqliteStore`,
:class:`~facewarden.store.postgres.PostgresStore`) pass them unchanged.

Times are aware UTC datetimes; stores may keep them at microsecond precision.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy.typing as npt

from facewarden.privacy.audit import AuditEntry
from facewarden.store.access import (
    AccessReader,
    AccessWriter,
    AliasRow,
    ApiKeyRow,
    SessionRow,
    UserRow,
)
from facewarden.store.cameras import (
    CameraReader,
    CameraRow,
    CameraWriter,
    CrowdBucketRow,
    HistoryRequestRow,
    SightingRow,
)
from facewarden.store.desk import AlertDecisionRow, DeskReader, DeskWriter, HistoryNoteRow

__all__ = [
    "AlertDecisionRow",
    "AliasRow",
    "ApiKeyRow",
    "AuditSnapshot",
    "CameraRow",
    "CrowdBucketRow",
    "FaceRow",
    "HistoryNoteRow",
    "HistoryRequestRow",
    "PhotoRow",
    "Reader",
    "SessionRow",
    "SightingRow",
    "Store",
    "SubjectRow",
    "TemplateRow",
    "Transaction",
    "UserRow",
    "WatchlistRow",
]


@dataclass(frozen=True)
class SubjectRow:
    """One subject as stored.

    Attributes:
        subject_id: random opaque id (``sub_<16 hex>``), never derived from personal data.
        wrapped_key: the subject's data key, wrapped by a master key (serialised).
        id_index: blind-index token of the ID number, unique across subjects; or None.
        fields: field name -> ciphertext of that personal field.
        updated_at: when the record last changed (retention counts from here).
    """

    subject_id: str
    wrapped_key: bytes
    id_index: str | None
    fields: Mapping[str, bytes]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class FaceRow:
    """One enrolled face: its encrypted, protected template.

    Attributes:
        face_id: random opaque id (``face_<16 hex>``).
        model: the embedding model key the template was made with (``dlib-resnet+mirror``).
        template: ciphertext of the protected template.
        has_photo: whether an encrypted photo is kept for it (read-only; set by the store).
    """

    face_id: str
    subject_id: str
    model: str
    template: bytes
    created_at: datetime
    has_photo: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class PhotoRow:
    """An encrypted, EXIF-free enrollment photo kept for a face."""

    face_id: str
    ciphertext: bytes
    created_at: datetime


@dataclass(frozen=True)
class TemplateRow:
    """A template with what is needed to decrypt it: the owner's wrapped data key."""

    face_id: str
    subject_id: str
    wrapped_key: bytes
    model: str
    template: bytes


@dataclass(frozen=True)
class WatchlistRow:
    """A watchlist (gallery) with its declared purpose and operating point.

    Attributes:
        watchlist_id: random opaque id (``wl_<16 hex>``).
        name: unique, human-chosen; not personal data.
        purpose: why it exists (shown in audit entries of its searches).
        lawful_basis: the legal ground for processing, as declared.
        fmr: the false match rate its threshold is calibrated for.
    """

    watchlist_id: str
    name: str
    purpose: str
    lawful_basis: str
    fmr: float
    created_at: datetime


class Reader(AccessReader, CameraReader, DeskReader, Protocol):
    """Reads available on the store and inside a transaction (which sees its own writes).

    Users, API keys, sessions and aliases: see :mod:`facewarden.store.access`;
    cameras, sightings and crowd buckets: :mod:`facewarden.store.cameras`.
    """

    def get_meta(self, key: str) -> str | None:
        """A deployment-level setting (template key id, key check, ...), or None."""
        ...

    def get_subject(self, subject_id: str) -> SubjectRow | None: ...

    def subject_id_by_index(self, id_index: str) -> str | None:
        """The subject holding blind-index token ``id_index``, or None."""
        ...

    def list_subjects(self, *, after: str | None = None, limit: int = 100) -> list[SubjectRow]:
        """Subjects ordered by id, those with an id greater than ``after``, at most ``limit``."""
        ...

    def subject_counts(self, subject_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """``(faces, watchlists)`` of each subject, in one query (absent ones: ``(0, 0)``)."""
        ...

    def count_subjects(self) -> int: ...

    def subjects_updated_before(self, cutoff: datetime, *, limit: int = 1000) -> list[str]:
        """Ids of subjects whose record last changed before ``cutoff``."""
        ...

    def get_face(self, face_id: str) -> FaceRow | None: ...

    def faces_of(self, subject_id: str) -> list[FaceRow]:
        """The subject's faces, oldest first."""
        ...

    def photos_of(self, subject_id: str) -> list[PhotoRow]:
        """The photos kept for the subject's faces, oldest first."""
        ...

    def get_photo(self, face_id: str) -> PhotoRow | None:
        """The photo kept for one face, or None (one in memory, however many the subject has)."""
        ...

    def iter_templates(self) -> Iterator[TemplateRow]:
        """Every stored template with its owner's wrapped key (index rebuild, rotation)."""
        ...

    def iter_wrapped_keys(self) -> Iterator[tuple[str, bytes]]:
        """``(subject_id, wrapped_key)`` of every subject (master-key rotation)."""
        ...

    def get_watchlist(self, watchlist_id: str) -> WatchlistRow | None: ...

    def watchlist_by_name(self, name: str) -> WatchlistRow | None: ...

    def list_watchlists(self) -> list[WatchlistRow]:
        """Every watchlist, by name."""
        ...

    def watchlists_of(self, subject_id: str) -> list[str]:
        """Ids of the watchlists the subject belongs to."""
        ...

    def iter_memberships(self) -> Iterator[tuple[str, str]]:
        """Every ``(watchlist_id, subject_id)`` pair."""
        ...

    def count_members(self, watchlist_id: str) -> int:
        """How many subjects the watchlist holds."""
        ...

    def last_audit(self) -> AuditEntry | None:
        """The audit entry stored last, or None for an empty log."""
        ...

    def iter_audit(self) -> Iterator[AuditEntry]:
        """Every audit entry in stored order (the order :meth:`AuditChain.verify` checks)."""
        ...

    def list_audit(
        self, *, after_seq: int = 0, limit: int = 100, object_id: str | None = None
    ) -> list[AuditEntry]:
        """Audit entries with seq above ``after_seq``, by seq; optionally about one object."""
        ...

    def audit_about(
        self,
        object_id: str,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        with_sightings: bool = False,
    ) -> list[AuditEntry]:
        """Entries whose object is ``object_id`` or whose details name it, by seq.

        Those with seq above ``after_seq``, at most ``limit`` (None: all).
        ``with_sightings``: also those filed under a sighting of subject
        ``object_id`` still kept (they name the sighting, not the person).
        """
        ...

    def audit_of(self, object_ids: Sequence[str]) -> list[AuditEntry]:
        """Entries whose object is one of ``object_ids`` (not those naming one), by seq."""
        ...

    def import_record(self, source_key: str) -> str | None:
        """The subject a bulk-import source was enrolled as, or None."""
        ...

    def import_sources_of(self, subject_id: str) -> list[str]:
        """The bulk-import sources (their keys) a subject was enrolled from."""
        ...


class AuditSnapshot(Protocol):
    """The audit log and the settings as of one moment, however many rows are read.

    Given by :meth:`Store.audit_snapshot`: entries appended by others while
    it is read are not seen, and neither is a head row written with them, so
    head and entries always agree (no false tamper alarm under load).
    """

    def get_meta(self, key: str) -> str | None:
        """A deployment-level setting as of the snapshot, or None."""
        ...

    def iter_audit(self) -> Iterator[AuditEntry]:
        """Every audit entry of the snapshot, in stored order."""
        ...


class Transaction(Reader, AccessWriter, CameraWriter, DeskWriter, Protocol):
    """Writes inside one atomic transaction (see :meth:`Store.transaction`)."""

    def set_meta(self, key: str, value: str) -> None:
        """Insert or replace a deployment-level setting."""
        ...

    def insert_subject(self, row: SubjectRow) -> None:
        """Add a subject.

        Raises:
            ConflictError: the id or the blind-index token is already taken.
        """
        ...

    def update_subject(
        self,
        subject_id: str,
        *,
        updated_at: datetime,
        fields: Mapping[str, bytes | None] | None = None,
        id_index: str | None = None,
        clear_id_index: bool = False,
    ) -> None:
        """Replace (or, for a None value, delete) fields; set or clear the ID-number token.

        Raises:
            NotFoundError: no such subject.
            ConflictError: ``id_index`` is held by another subject.
        """
        ...

    def set_wrapped_key(self, subject_id: str, wrapped_key: bytes) -> None:
        """Replace the subject's wrapped data key (master-key rotation)."""
        ...

    def delete_subject(self, subject_id: str) -> bool:
        """Delete the subject with everything that hangs off it; False if it did not exist."""
        ...

    def insert_face(self, row: FaceRow) -> None:
        """Add a face to an existing subject.

        Raises:
            NotFoundError: the subject does not exist.
        """
        ...

    def set_template(self, face_id: str, template: bytes) -> None:
        """Replace a face's template ciphertext (template rotation)."""
        ...

    def delete_face(self, face_id: str) -> bool:
        """Delete a face and its photo; False if it did not exist."""
        ...

    def put_face_vector(self, face_id: str, vector: npt.ArrayLike) -> None:
        """Keep a face's *protected* template where the database can index it, or replace it.

        Called with every template written (enrollment, rotation), in the
        same transaction. PostgreSQL keeps it, unencrypted, in pgvector's
        ``face_vectors`` (deleted with the face); SQLite keeps nothing (its
        gallery is in memory).

        Raises:
            NotFoundError: no such face (PostgreSQL).
            ValueError: a value is not finite.
        """
        ...

    def insert_photo(self, row: PhotoRow) -> None:
        """Keep a photo for an existing face."""
        ...

    def delete_photos_before(self, cutoff: datetime) -> int:
        """Delete photos kept since before ``cutoff``; returns how many."""
        ...

    def insert_watchlist(self, row: WatchlistRow) -> None:
        """Add a watchlist.

        Raises:
            ConflictError: the id or name is taken.
        """
        ...

    def add_membership(self, watchlist_id: str, subject_id: str, added_at: datetime) -> bool:
        """Put a subject on a watchlist; False if it already was.

        Raises:
            NotFoundError: the watchlist or subject does not exist.
        """
        ...

    def remove_membership(self, watchlist_id: str, subject_id: str) -> bool:
        """Take a subject off a watchlist; False if it was not on it."""
        ...

    def append_audit(self, entry: AuditEntry) -> None:
        """Store the next audit entry (its seq must follow :meth:`last_audit`'s).

        Raises:
            ConflictError: the seq is already stored.
        """
        ...

    def record_import(self, source_key: str, subject_id: str, done_at: datetime) -> None:
        """Remember that a bulk-import source was enrolled as ``subject_id``."""
        ...

    def delete_imports_before(self, cutoff: datetime) -> int:
        """Forget import records made before ``cutoff``; returns how many."""
        ...


class Store(Reader, Protocol):
    """A persistence backend. Build one with its module's ``open`` function."""

    @property
    def location(self) -> str:
        """Where the data lives, for messages (a path, a URL without password)."""
        ...

    @property
    def schema_version(self) -> int:
        """The schema version the data is at."""
        ...

    def transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        Transactions are serialised; reads from other threads wait while one runs.
        """
        ...

    def audit_snapshot(self) -> AbstractContextManager[AuditSnapshot]:
        """One read-only snapshot of the audit log and settings, for verification.

        Read on a connection of its own (SQLite: one read transaction;
        PostgreSQL: one ``REPEATABLE READ`` transaction), so writers are not
        blocked while a long log is checked, and the snapshot does not move.
        """
        ...

    def snapshot(self) -> AbstractContextManager[Reader]:
        """Every read, from one read-only snapshot on a connection of its own.

        Like :meth:`audit_snapshot`, for a long read that must be coherent (a
        subject's export, read page by page): writers are not blocked, and
        what they commit meanwhile is not seen.
        """
        ...

    def integrity_check(self) -> list[str]:
        """Problems found by the backend's own consistency check; empty when healthy."""
        ...

    def checkpoint(self) -> None:
        """Move committed data out of any write-ahead log into the main files."""
        ...

    def compact(self, tables: Iterable[str] | None = None) -> None:
        """Rebuild the storage so deleted bytes leave the disk (after a purge).

        ``tables``: where rows were deleted (None: everywhere); the tables
        those deletions cascaded into count too. A store that can rewrite one
        table at a time rewrites only those; one that cannot rewrites
        everything. Its write-ahead log keeps none of the deleted rows after.
        """
        ...

    def backup(self, destination: str) -> None:
        """Write a consistent copy of all data to ``destination`` (a new file, a URL).

        The copy holds what the store holds, all of it still encrypted; the
        keys stay in the key directory. A destination that exists is refused.

        Raises:
            ConflictError: the destination exists.
        """
        ...

    def close(self) -> None:
        """Release the backend; idempotent. Any later call raises."""
        ...
