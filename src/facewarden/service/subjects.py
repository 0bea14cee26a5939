"""Subjects as callers see them: decrypted records with their faces and watchlists.

Reading functions here do not audit; the registry calls them inside the
transaction that records the read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from facewarden.errors import ConflictError, NotFoundError
from facewarden.privacy.crypto import WrappedKey
from facewarden.service.context import Context
from facewarden.service.enrollment import PreparedFace
from facewarden.service.gallery import seal_template
from facewarden.service.records import RESTRICTION, SubjectRecord, new_id, open_record
from facewarden.store.base import FaceRow, PhotoRow, Reader, SubjectRow, Transaction

_PHOTO_TABLE, _PHOTO_FIELD = "photos", "jpeg"

__all__ = [
    "Enrollment",
    "FaceInfo",
    "Subject",
    "SubjectSummary",
    "load_subject",
    "open_photo",
    "store_faces",
    "subject_row",
    "summarize",
]


@dataclass(frozen=True)
class FaceInfo:
    """One enrolled face, without its template."""

    face_id: str
    model: str
    created_at: datetime
    has_photo: bool

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "face_id": self.face_id,
            "model": self.model,
            "created_at": self.created_at.isoformat(),
            "has_photo": self.has_photo,
        }


@dataclass(frozen=True)
class Subject:
    """A subject as read back, decrypted."""

    subject_id: str
    record: SubjectRecord
    faces: tuple[FaceInfo, ...]
    watchlists: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    restricted: bool = False
    """Processing restricted (GDPR Art. 18): kept, matched nowhere (service/restriction.py)."""

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "subject_id": self.subject_id,
            "record": self.record.to_dict(),
            "faces": [f.to_dict() for f in self.faces],
            "watchlists": list(self.watchlists),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "restricted": self.restricted,
        }


@dataclass(frozen=True)
class SubjectSummary:
    """One line of a subject listing: id, name and counts only."""

    subject_id: str
    full_name: str
    faces: int
    watchlists: int
    updated_at: datetime


@dataclass(frozen=True)
class Enrollment:
    """What an enrollment stored (and, when asked for, the subject as committed)."""

    subject_id: str
    face_ids: tuple[str, ...]
    watchlist_ids: tuple[str, ...]
    subject: Subject | None = None


def subject_row(reader: Reader, subject_id: str) -> tuple[SubjectRow, WrappedKey]:
    """The stored row of a subject and its wrapped data key.

    Raises:
        NotFoundError: no such subject.
    """
    row = reader.get_subject(subject_id)
    if row is None:
        raise NotFoundError(f"no subject {subject_id}")
    return row, WrappedKey.from_bytes(row.wrapped_key)


def load_subject(ctx: Context, reader: Reader, subject_id: str) -> Subject:
    """A subject decrypted (not audited: the caller audits the read).

    Raises:
        NotFoundError: no such subject.
    """
    row, key = subject_row(reader, subject_id)
    faces = tuple(
        FaceInfo(f.face_id, f.model, f.created_at, f.has_photo) for f in reader.faces_of(subject_id)
    )
    return Subject(
        subject_id,
        open_record(ctx.envelope, key, subject_id, row.fields),
        faces,
        tuple(reader.watchlists_of(subject_id)),
        row.created_at,
        row.updated_at,
        RESTRICTION in row.fields,
    )


def summarize(
    ctx: Context, reader: Reader, row: SubjectRow, counts: tuple[int, int] | None = None
) -> SubjectSummary:
    """A listing line: the subject's name decrypted, counts of faces and watchlists.

    ``counts`` (faces, watchlists), when the caller read them for a whole page.
    """
    key = WrappedKey.from_bytes(row.wrapped_key)
    name = ctx.envelope.decrypt_str(
        row.fields["full_name"],
        data_key=key,
        table="subjects",
        row=row.subject_id,
        field="full_name",
    )
    faces, lists = counts or reader.subject_counts([row.subject_id])[row.subject_id]
    return SubjectSummary(row.subject_id, name, faces, lists, row.updated_at)


def store_faces(
    ctx: Context,
    tx: Transaction,
    subject_id: str,
    data_key: WrappedKey,
    faces: Sequence[PreparedFace],
    now: datetime,
    *,
    face_ids: Sequence[str] | None = None,
) -> list[str]:
    """Encrypt and insert prepared faces (and their photos) of a subject; returns the face ids.

    ``face_ids`` names the new faces (one per face; default: fresh random ids).

    With the pgvector gallery (``gallery_index = "pgvector"``, an explicit
    choice), each protected template is also handed to
    :meth:`Transaction.put_face_vector`, where PostgreSQL keeps it unencrypted
    for its index; with any other gallery no template is stored but encrypted.

    Raises:
        ConflictError: a face was protected with a template key rotated since.
    """
    chosen = list(face_ids) if face_ids is not None else [new_id("face") for _ in faces]
    if len(chosen) != len(faces):
        raise ValueError("one face id per face")
    stored = []
    for face, face_id in zip(faces, chosen, strict=True):
        if face.key_id != ctx.protector.key_id:
            raise ConflictError(
                "the template key was rotated while this face was being prepared; enroll it again"
            )
        template = seal_template(ctx.envelope, data_key, face_id, face.protected)
        tx.insert_face(FaceRow(face_id, subject_id, face.model, template, now))
        if ctx.gallery.in_database:
            # The database's vector index (pgvector): same transaction, same template.
            tx.put_face_vector(face_id, face.protected)
        if face.photo_jpeg is not None:
            photo = ctx.envelope.encrypt(
                face.photo_jpeg,
                data_key=data_key,
                table=_PHOTO_TABLE,
                row=face_id,
                field=_PHOTO_FIELD,
            )
            tx.insert_photo(PhotoRow(face_id, photo, now))
        stored.append(face_id)
    return stored


def open_photo(ctx: Context, data_key: WrappedKey, row: PhotoRow) -> bytes:
    """The JPEG of a kept photo, decrypted (not audited: the caller audits the read)."""
    return ctx.envelope.decrypt(
        row.ciphertext, data_key=data_key, table=_PHOTO_TABLE, row=row.face_id, field=_PHOTO_FIELD
    )
