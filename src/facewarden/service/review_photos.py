"""A subject's kept enrollment photo, for a person to compare faces (human review).

Search, verification and a subject's page show the enrolled face next to the
probe face so that a person, not the similarity score, decides. The photo is
kept only when ``keep_enrollment_photos`` is on, and then encrypted with the
subject's data key; it is decrypted for one answer, scaled down, and every
read is audited (``subject.photo``) with its purpose. An investigator reads
one only under a case reference, as they read the subject.
"""

from __future__ import annotations

import cv2

from facewarden import imaging
from facewarden.errors import NotFoundError, PermissionDeniedError
from facewarden.privacy.crypto import Envelope, WrappedKey
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.records import invalid_input
from facewarden.service.subjects import subject_row
from facewarden.store.base import Reader

__all__ = ["ReviewPhotos", "kept_photo", "thumbnail"]

_ROLES = frozenset({"admin", "operator", "investigator"})
_PHOTO_SIDE = 320  # pixels: enough to compare two faces, small enough to send often


class ReviewPhotos:
    """Enrolled photos for human review (see the module's docstring)."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit

    def photo(
        self, subject_id: str, *, role: str, purpose: str = "", face_id: str | None = None
    ) -> bytes:
        """A kept enrollment photo of ``subject_id`` as a JPEG thumbnail (audited).

        Args:
            subject_id: whose.
            role: the caller's role.
            purpose: why (an investigator's case reference: required for them).
            face_id: the face whose photo (None: the first kept).

        Raises:
            PermissionDeniedError: the role may not.
            InvalidInputError: an investigator gave no case reference.
            NotFoundError: no such subject, or no photo kept for it (or that face).
        """
        if role not in _ROLES:
            raise PermissionDeniedError(f"role {role!r} may not see enrolled photos")
        purpose = purpose.strip()
        if role == "investigator" and not purpose:
            # As for reading the subject: a missing case reference is a bad request.
            raise invalid_input(
                "an investigator sees a subject's photo only with a case reference (purpose)"
            )
        with self._ctx.writing() as tx:
            _, key = subject_row(tx, subject_id)
            kept = kept_photo(self._ctx.envelope, tx, subject_id, key, face_id)
            if kept is None:
                raise NotFoundError(
                    "no enrollment photo is kept for this subject"
                    + ("" if face_id is None else " and face")
                    + " (FACEWARDEN_KEEP_ENROLLMENT_PHOTOS is off, or it has expired)"
                )
            kept_face, data = kept
            self._audit.append(
                tx,
                "subject.photo",
                object_type="subject",
                object_id=subject_id,
                purpose=purpose or "human review",
                details={"face": kept_face},
            )
        return thumbnail(data)


def kept_photo(
    envelope: Envelope,
    reader: Reader,
    subject_id: str,
    key: WrappedKey,
    face_id: str | None = None,
) -> tuple[str, bytes] | None:
    """The first kept enrollment photo of a subject (of ``face_id`` if given), decrypted.

    Returns its face id and JPEG bytes, or None when no such photo is kept.
    """
    photos = [p for p in reader.photos_of(subject_id) if face_id is None or p.face_id == face_id]
    if not photos:
        return None
    photo = photos[0]
    jpeg = envelope.decrypt(
        photo.ciphertext, data_key=key, table="photos", row=photo.face_id, field="jpeg"
    )
    return photo.face_id, jpeg


def thumbnail(data: bytes) -> bytes:
    """``data`` (a kept JPEG) scaled down to a thumbnail, re-encoded without metadata."""
    image = imaging.decode(data)
    height, width = image.shape[:2]
    scale = _PHOTO_SIDE / max(height, width)
    if scale >= 1:
        return imaging.encode_jpeg(image, quality=85)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return imaging.encode_jpeg(cv2.resize(image, size, interpolation=cv2.INTER_AREA), quality=85)
