"""Adding, replacing and removing the faces of an enrolled subject.

Each change is one transaction with its audit entry, and touches the
subject's ``updated_at`` (retention counts from the last change). A subject
keeps at least one face: the last one can be replaced, not removed.

A face removed (or replaced) is often a wrong one: a bystander's photo
enrolled under someone else, who is then identified as them. Each removal is
recorded in the key directory's revocation ledger before its commit (the
face's random id only), and opening a database restored from a backup taken
before removes the face again (:func:`reapply_face_removals`), even when it
is the subject's only face there (the face that replaced it came after the
backup): a person left with no face matches no one until a face is added,
where the wrong one would match a stranger as them.
"""

from __future__ import annotations

import numpy as np

from facewarden.errors import ConflictError, NotFoundError
from facewarden.privacy.revocations import APPLIED, Revocation
from facewarden.service import purposes
from facewarden.service.audit import AuditLog
from facewarden.service.compaction import note_compaction_due
from facewarden.service.context import Context
from facewarden.service.enrollment import ImageInput, PreparedFace, prepare_image
from facewarden.service.same_person import check_joining, forced_details
from facewarden.service.subjects import store_faces, subject_row
from facewarden.store.base import FaceRow, Reader, Transaction

__all__ = ["FaceEditor", "reapply_face_removals", "record_removal"]


class FaceEditor:
    """Edit the faces of enrolled subjects, for one actor."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit

    def _prepare(self, image: ImageInput, face_index: int | None, force: bool) -> PreparedFace:
        self._ctx.refresh(need_gallery=False)  # protect with the current template key
        return prepare_image(
            self._ctx.enroll_pipeline,
            self._ctx.protector,
            image,
            face_index=face_index,
            force=force,
            keep_photo=self._ctx.settings.keep_enrollment_photos,
        )

    def add(
        self,
        subject_id: str,
        image: ImageInput,
        *,
        face_index: int | None = None,
        force: bool = False,
        purpose: str = "",
    ) -> str:
        """Enroll one more face of a subject; returns its face id.

        ``force`` accepts a face below the quality bar, and one that does not
        match the subject's faces (audited as an override).

        Raises:
            FaceMismatchError: the face is not the subject's person; nothing is stored.
        """
        prepared = self._prepare(image, face_index, force)
        return self._change_faces(subject_id, prepared, None, purpose, force)

    def replace(
        self,
        subject_id: str,
        face_id: str,
        image: ImageInput,
        *,
        face_index: int | None = None,
        force: bool = False,
        purpose: str = "",
    ) -> str:
        """Swap one face of a subject for a new photo, atomically; returns the new face id.

        The new face must match the subject's faces, the one it replaces
        included (else replacing a subject's only face would swap the person),
        unless ``force``.

        Raises:
            FaceMismatchError: the face is not the subject's person; nothing is changed.
        """
        prepared = self._prepare(image, face_index, force)
        return self._change_faces(subject_id, prepared, face_id, purpose, force)

    def remove(self, subject_id: str, face_id: str, *, purpose: str = "") -> None:
        """Delete one face (with its template and photo).

        Raises:
            NotFoundError: no such subject or face.
            ConflictError: it is the subject's only face (replace it, or erase the subject).
        """
        with self._ctx.writing(gallery_changes=True) as tx:
            self.remove_in(tx, subject_id, face_id, purpose=purpose)

    def remove_in(
        self, tx: Transaction, subject_id: str, face_id: str, *, purpose: str = ""
    ) -> None:
        """:meth:`remove` inside the caller's transaction (one that records a gallery change)."""
        faces = self._faces_checked(tx, subject_id, face_id)
        if len(faces) == 1:
            raise ConflictError(
                f"{face_id} is the only face of {subject_id}; replace it, or erase the subject"
            )
        tx.delete_face(face_id)
        # Its template and photo stay readable in old row versions until compacted.
        note_compaction_due(tx, ["faces"])
        record_removal(self._ctx, tx, face_id)
        self._audit.append(
            tx,
            "face.remove",
            object_type="subject",
            object_id=subject_id,
            purpose=purposes.for_subject(self._ctx, tx, subject_id, purpose),
            details={"face": face_id},
        )
        self._ctx.gallery.remove_faces(subject_id, [face_id])

    def _change_faces(
        self,
        subject_id: str,
        prepared: PreparedFace,
        old_face: str | None,
        purpose: str,
        force: bool,
    ) -> str:
        with self._ctx.writing(gallery_changes=True) as tx:
            _, key = subject_row(tx, subject_id)
            if old_face is not None:
                self._faces_checked(tx, subject_id, old_face)
            forced = check_joining(self._ctx, tx, subject_id, key, [prepared], force=force)
            if old_face is not None:
                tx.delete_face(old_face)
                note_compaction_due(tx, ["faces"])
                record_removal(self._ctx, tx, old_face)
            now = self._ctx.clock()
            [face_id] = store_faces(self._ctx, tx, subject_id, key, [prepared], now)
            tx.update_subject(subject_id, updated_at=now)
            action = "face.add" if old_face is None else "face.replace"
            details: dict[str, object] = {"face": face_id}
            details |= {} if old_face is None else {"replaced": old_face}
            details |= forced_details([face_id] if forced else [])
            self._audit.append(
                tx,
                action,
                object_type="subject",
                object_id=subject_id,
                purpose=purposes.for_subject(self._ctx, tx, subject_id, purpose),
                details=details,
            )
            if old_face is not None:
                self._ctx.gallery.remove_faces(subject_id, [old_face])
            self._ctx.gallery.add_faces(subject_id, [face_id], prepared.protected[np.newaxis])
        return face_id

    def _faces_checked(self, reader: Reader, subject_id: str, face_id: str) -> list[FaceRow]:
        subject_row(reader, subject_id)
        faces = reader.faces_of(subject_id)
        if face_id not in {f.face_id for f in faces}:
            raise NotFoundError(f"{subject_id} has no face {face_id}")
        return faces


def record_removal(ctx: Context, tx: Transaction, face_id: str) -> None:
    """Record in the revocation ledger, before the commit, that ``face_id`` is removed."""
    tx.set_meta(APPLIED, str(ctx.keyring.revocations.remove_face(face_id)))


def reapply_face_removals(
    ctx: Context, tx: Transaction, records: list[Revocation]
) -> list[tuple[str, str]]:
    """Remove again the faces the ledger records as removed that are here; (subject, face) each.

    Run in a transaction that changes the gallery; the caller audits each.
    """
    removed = []
    for face_id in dict.fromkeys(r.target for r in records if r.kind == "face"):
        row = tx.get_face(face_id)
        if row is None:
            continue
        tx.delete_face(face_id)
        ctx.gallery.remove_faces(row.subject_id, [face_id])
        removed.append((row.subject_id, face_id))
    if removed:
        note_compaction_due(tx, ["faces"])
    return removed
