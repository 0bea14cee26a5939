"""The registry: enroll, read, update, export and erase subjects.

Every write is one transaction holding the change and its audit entry;
every read of personal data is audited too. A subject's fields, templates,
photos and sighting thumbnails are encrypted with the subject's own data
key, wrapped by the subject's own key-encryption key (KEK) in the key
directory. Erasure deletes the rows, records the subject in the erasure
ledger before the commit, and destroys the KEK after it: what is left of
the subject anywhere (dead rows, WAL, a backup taken before) can no longer
be decrypted with any key that remains. See :mod:`facewarden.service.erasure`
for how an interrupted erasure is completed and a restored backup has the
erasures made since re-applied.

Adding, replacing and removing faces of an enrolled subject is
:mod:`facewarden.service.faces`; the export's shape is
:mod:`facewarden.service.export`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime

import numpy as np
import numpy.typing as npt

from facewarden.errors import ConflictError, FaceNotFoundError, FacewardenError, NotFoundError
from facewarden.privacy.crypto import WrappedKey
from facewarden.service import purposes
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.enrollment import (
    ImageInput,
    PreparedFace,
    choose_face,
    model_key_of,
    prepare_face,
    prepare_image,
)
from facewarden.service.erasure import LEDGER_APPLIED
from facewarden.service.export import build_export
from facewarden.service.records import (
    SubjectRecord,
    id_index,
    new_id,
    open_record,
    seal_changes,
    seal_record,
)
from facewarden.service.subjects import (
    Enrollment,
    FaceInfo,
    Subject,
    SubjectSummary,
    load_subject,
    store_faces,
    subject_row,
    summarize,
)
from facewarden.service.watchlists import resolve_watchlist
from facewarden.store.base import SubjectRow, Transaction
from facewarden.types import Face

__all__ = ["Enrollment", "FaceInfo", "Registry", "Subject", "SubjectSummary"]


class Registry:
    """Subjects and their faces, for one actor."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit

    def prepare(
        self,
        image: ImageInput,
        *,
        name: str | None = None,
        face_index: int | None = None,
        force: bool = False,
    ) -> PreparedFace:
        """Run the enrollment pipeline on a photo and prepare its one face for storage.

        Raises:
            ImageError, FaceNotFoundError, MultipleFacesError: see
                :func:`~facewarden.service.enrollment.choose_face`.
        """
        self._ctx.refresh(need_gallery=False)  # protect with the current template key
        return prepare_image(
            self._ctx.enroll_pipeline,
            self._ctx.protector,
            image,
            name=name,
            face_index=face_index,
            force=force,
            keep_photo=self._ctx.settings.keep_enrollment_photos,
        )

    def prepare_detected(
        self,
        faces: list[Face],
        *,
        source: str,
        image: npt.NDArray[np.uint8] | None = None,
        face_index: int | None = None,
        force: bool = False,
    ) -> PreparedFace:
        """Prepare one of the faces the enrollment pipeline already found in a photo.

        For callers that ran the pipeline themselves (worker processes, a
        camera). ``image`` is needed only when the deployment keeps photos.

        Raises:
            FaceNotFoundError, MultipleFacesError: see
                :func:`~facewarden.service.enrollment.choose_face`.
        """
        self._ctx.refresh(need_gallery=False)  # protect with the current template key
        face = choose_face(faces, source=source, face_index=face_index, force=force)
        keep = self._ctx.settings.keep_enrollment_photos
        return prepare_face(
            face,
            protector=self._ctx.protector,
            model=model_key_of(self._ctx.enroll_pipeline),
            image=image if keep else None,
            source=source,
        )

    def enroll(
        self,
        record: SubjectRecord,
        images: Sequence[ImageInput],
        *,
        watchlists: Sequence[str] = (),
        face_index: int | None = None,
        force: bool = False,
        purpose: str = "",
        read_back: bool = False,
    ) -> Enrollment:
        """Enroll a person from one or more photos, each holding the person's face.

        Args:
            record: the identity record.
            images: paths, bytes or RGB arrays; one face is enrolled from each.
            watchlists: names or ids of watchlists to put the subject on.
            face_index: which face to take (0-based) from photos showing several.
            force: accept faces below the quality bar.
            purpose: why, for the audit log.
            read_back: also return the stored subject, read in the enrolling
                transaction (what an API answers with; no second audited read).

        Raises:
            FaceNotFoundError, MultipleFacesError, ImageError: a photo is unusable;
                nothing is stored.
            ConflictError: the ID number is already enrolled.
            NotFoundError: a watchlist does not exist.
        """
        if not images:
            raise FaceNotFoundError("enrollment needs at least one photo of the person")
        self._check_watchlists(watchlists)
        faces = [self.prepare(image, face_index=face_index, force=force) for image in images]
        return self.enroll_prepared(
            record, faces, watchlists=watchlists, purpose=purpose, read_back=read_back
        )

    def enroll_prepared(
        self,
        record: SubjectRecord,
        faces: Sequence[PreparedFace],
        *,
        watchlists: Sequence[str] = (),
        purpose: str = "",
        source_key: str | None = None,
        read_back: bool = False,
    ) -> Enrollment:
        """Store a subject with already prepared faces, all in one transaction.

        ``source_key`` (bulk import) is recorded in the same transaction, so an
        import is marked done exactly when its subject is committed.
        """
        if not faces:
            raise FaceNotFoundError("enrollment needs at least one face")
        now = self._ctx.clock()
        subject_id = new_id("sub")
        # The subject's KEK is on disk before anything encrypted under it is committed.
        data_key = self._ctx.envelope.new_subject_data_key(subject_id)
        try:
            return self._insert(
                subject_id, data_key, record, faces, now, watchlists, purpose, source_key, read_back
            )
        except FacewardenError:
            # A refused enrollment (a taken ID number, an unknown watchlist) committed
            # nothing: its new KEK protects nothing and goes. Checked, not assumed, so
            # a failure after the commit never destroys a stored subject's key. (A crash
            # leaves such a KEK behind the same way: unused and harmless.)
            with suppress(FacewardenError):
                if self._ctx.store.get_subject(subject_id) is None:
                    self._ctx.keyring.destroy_subject_keys([subject_id])
            raise

    def _insert(
        self,
        subject_id: str,
        data_key: WrappedKey,
        record: SubjectRecord,
        faces: Sequence[PreparedFace],
        now: datetime,
        watchlists: Sequence[str],
        purpose: str,
        source_key: str | None,
        read_back: bool,
    ) -> Enrollment:
        row = SubjectRow(
            subject_id,
            data_key.to_bytes(),
            id_index(self._ctx.envelope, record.id_number),
            seal_record(self._ctx.envelope, data_key, subject_id, record),
            now,
            now,
        )
        with self._ctx.writing(gallery_changes=True) as tx:
            lists = list(dict.fromkeys(resolve_watchlist(tx, r).watchlist_id for r in watchlists))
            if row.id_index is not None and tx.subject_id_by_index(row.id_index) is not None:
                raise ConflictError("another subject is already enrolled with this ID number")
            tx.insert_subject(row)
            face_ids = store_faces(self._ctx, tx, subject_id, data_key, faces, now)
            for watchlist_id in lists:
                tx.add_membership(watchlist_id, subject_id, now)
            if source_key is not None:
                tx.record_import(source_key, subject_id, now)
            self._audit.append(
                tx,
                "subject.enroll",
                object_type="subject",
                object_id=subject_id,
                purpose=purposes.for_subject(self._ctx, tx, subject_id, purpose),
                details={"faces": list(face_ids), "watchlists": lists},
            )
            for watchlist_id in lists:
                self._ctx.gallery.join(
                    watchlist_id, subject_id, face_ids, np.array([f.protected for f in faces])
                )
            stored = load_subject(self._ctx, tx, subject_id) if read_back else None
        return Enrollment(subject_id, tuple(face_ids), tuple(lists), stored)

    def get(self, subject_id: str, *, purpose: str = "") -> Subject:
        """A subject's decrypted record, faces and watchlists (an audited read).

        Raises:
            NotFoundError: no such subject (or it was erased).
        """
        with self._ctx.writing() as tx:
            subject = load_subject(self._ctx, tx, subject_id)
            self._audit.append(
                tx,
                "subject.read",
                object_type="subject",
                object_id=subject_id,
                purpose=purposes.for_subject(self._ctx, tx, subject_id, purpose),
            )
        return subject

    def find_by_id_number(self, id_number: str, *, purpose: str = "") -> Subject:
        """The subject enrolled with this ID number, through the blind index (audited).

        Raises:
            NotFoundError: nobody is enrolled with it.
        """
        token = id_index(self._ctx.envelope, id_number)
        with self._ctx.writing() as tx:
            subject_id = tx.subject_id_by_index(token or "")
            self._audit.append(
                tx,
                "subject.lookup",
                object_type="subject",
                object_id=subject_id or "",
                purpose=purposes.for_subject(self._ctx, tx, subject_id, purpose)
                if subject_id
                else purposes.given_or(purpose, "ID-number lookup"),
                outcome="ok" if subject_id else "not_found",
            )
        if subject_id is None:
            raise NotFoundError("no subject is enrolled with this ID number")
        return self.get(subject_id, purpose=purpose)

    def subjects(
        self, *, after: str | None = None, limit: int = 50, purpose: str = ""
    ) -> list[SubjectSummary]:
        """A page of subjects with their names (an audited read of those names)."""
        limit = max(1, min(limit, self._ctx.settings.max_page_size))
        with self._ctx.writing() as tx:
            rows = tx.list_subjects(after=after, limit=limit)
            counts = tx.subject_counts([row.subject_id for row in rows])
            summaries = [summarize(self._ctx, tx, row, counts[row.subject_id]) for row in rows]
            self._audit.append(
                tx,
                "subject.list",
                purpose=purposes.given_or(purpose, "subject listing"),
                details={"subjects": [r.subject_id for r in rows]},
            )
        return summaries

    def export(self, subject_id: str, *, purpose: str = "") -> dict[str, object]:
        """Everything held on a subject, decrypted, plus the audit entries about them.

        The export is itself audited, and its own entry is part of it. See
        :func:`~facewarden.service.export.build_export` for the shape.

        Raises:
            NotFoundError: no such subject (an erased subject cannot be exported).
        """
        with self._ctx.writing() as tx:
            subject = load_subject(self._ctx, tx, subject_id)
            self._audit.append(
                tx,
                "subject.export",
                object_type="subject",
                object_id=subject_id,
                purpose=purposes.for_subject(self._ctx, tx, subject_id, purpose),
            )
            return build_export(self._ctx, tx, subject)

    def update(
        self, subject_id: str, changes: dict[str, str | None], *, purpose: str = ""
    ) -> Subject:
        """Change record fields (None or "" clears an optional field).

        Raises:
            NotFoundError: no such subject.
            ConflictError: the new ID number belongs to another subject.
            ConfigError: an unknown field or an invalid value.
        """
        with self._ctx.writing() as tx:
            row, key = subject_row(tx, subject_id)
            old = open_record(self._ctx.envelope, key, subject_id, row.fields)
            new = old.updated(changes)
            sealed = seal_changes(self._ctx.envelope, key, subject_id, old, new)
            token = id_index(self._ctx.envelope, new.id_number)
            tx.update_subject(
                subject_id,
                updated_at=self._ctx.clock(),
                fields=sealed,
                id_index=token,
                clear_id_index=token is None,
            )
            self._audit.append(
                tx,
                "subject.update",
                object_type="subject",
                object_id=subject_id,
                purpose=purposes.for_subject(self._ctx, tx, subject_id, purpose),
                details={"fields": sorted(sealed)},
            )
            return load_subject(self._ctx, tx, subject_id)

    def erase(self, subject_id: str, *, purpose: str = "") -> None:
        """Erase a subject: record, faces, templates, photos, memberships, index entries, KEK.

        The audit log keeps a tombstone naming only the pseudonymous id. The
        subject's KEK is destroyed once the deletion is committed (by
        :meth:`Context.writing`), so no copy of the subject's data decrypts
        any more; the database's write-ahead log is checkpointed afterwards so
        the deleted pages (overwritten by ``secure_delete``) leave it too.

        Raises:
            NotFoundError: no such subject (already erased?).
        """
        with self._ctx.writing(gallery_changes=True) as tx:
            self.erase_in(tx, subject_id, purpose=purpose)
        self._ctx.store.checkpoint()

    def erase_in(
        self, tx: Transaction, subject_id: str, *, purpose: str = "", record: bool = True
    ) -> None:
        """:meth:`erase` inside the caller's transaction (retention purges several at once).

        Args:
            tx: the transaction (its commit makes the erasure visible).
            subject_id: whom to erase.
            purpose: why, for the tombstone.
            record: append the subject to the erasure ledger (False only when
                re-applying an erasure the ledger already holds).
        """
        faces = tx.faces_of(subject_id)
        purpose = purposes.for_subject(self._ctx, tx, subject_id, purpose)  # before it goes
        if not tx.delete_subject(subject_id):
            raise NotFoundError(f"no subject {subject_id}")
        if record:
            # Before the commit: a crash from here on is completed at the next open.
            tx.set_meta(LEDGER_APPLIED, str(self._ctx.keyring.record_erasure(subject_id)))
        self._ctx.erasures_pending = True
        self._audit.append(
            tx,
            "subject.erase",
            object_type="subject",
            object_id=subject_id,
            purpose=purpose,
            details={"faces": len(faces)},
        )
        self._ctx.gallery.remove_subject(subject_id)

    def _check_watchlists(self, refs: Sequence[str]) -> None:
        # Fail before the (slow) pipeline runs, not after.
        for ref in refs:
            resolve_watchlist(self._ctx.store, ref)
