"""Enrolling a subject: its photos prepared, then record, faces and watchlists stored at once.

Each photo goes through the enrollment pipeline and leaves it as one
protected template (:mod:`facewarden.service.enrollment`); the subject is
then stored in one transaction with its audit entry, under a KEK of its own
that is on disk before anything encrypted under it is committed (and goes
again when the enrollment is refused). :class:`~facewarden.service.registry.Registry`
has these methods.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime

import numpy as np
import numpy.typing as npt

from facewarden.errors import ConflictError, FaceNotFoundError, FacewardenError
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
from facewarden.service.records import SubjectRecord, id_index, new_id, seal_record
from facewarden.service.same_person import check_same_person, forced_details
from facewarden.service.subjects import Enrollment, load_subject, store_faces
from facewarden.service.watchlists import resolve_watchlist
from facewarden.store.base import SubjectRow
from facewarden.types import Face

__all__ = ["Enroller"]


class Enroller:
    """Prepare photos and enroll subjects, for one actor (a part of the registry)."""

    _ctx: Context
    _audit: AuditLog

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
            images: paths, bytes or RGB arrays; one face is enrolled from each (one
                of them given alone is one photo).
            watchlists: names or ids of watchlists to put the subject on (or one name).
            face_index: which face to take (0-based) from photos showing several.
            force: accept faces below the quality bar, and photos that do not all
                match each other (audited as an override).
            purpose: why, for the audit log.
            read_back: also return the stored subject, read in the enrolling
                transaction (what an API answers with; no second audited read).

        Raises:
            FaceNotFoundError, MultipleFacesError, ImageError: a photo is unusable;
                nothing is stored.
            FaceMismatchError: the photos are not all of one person
                (:mod:`facewarden.service.same_person`); nothing is stored.
            ConflictError: the ID number is already enrolled.
            NotFoundError: a watchlist does not exist.
        """
        # One photo or one watchlist given alone, not in a list, is one: iterated,
        # a path would be taken character by character, as would a name.
        if isinstance(images, str | os.PathLike | bytes | np.ndarray):
            images = [images]
        if isinstance(watchlists, str):
            watchlists = [watchlists]
        if not images:
            raise FaceNotFoundError("enrollment needs at least one photo of the person")
        self._check_watchlists(watchlists)
        faces = [
            self.prepare(
                image, name=_label(image, number, len(images)), face_index=face_index, force=force
            )
            for number, image in enumerate(images, start=1)
        ]
        return self.enroll_prepared(
            record, faces, watchlists=watchlists, purpose=purpose, read_back=read_back, force=force
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
        force: bool = False,
    ) -> Enrollment:
        """Store a subject with already prepared faces, all in one transaction.

        ``source_key`` (bulk import) is recorded in the same transaction, so an
        import is marked done exactly when its subject is committed. The faces
        must be of one person unless ``force`` (see
        :func:`~facewarden.service.same_person.check_same_person`).

        Raises:
            FaceMismatchError: the faces are not all of one person; nothing is stored.
        """
        if not faces:
            raise FaceNotFoundError("enrollment needs at least one face")
        forced = check_same_person(faces, force=force)
        now = self._ctx.clock()
        subject_id = new_id("sub")
        # The subject's KEK is on disk before anything encrypted under it is committed.
        data_key = self._ctx.envelope.new_subject_data_key(subject_id)
        try:
            return self._insert(
                subject_id,
                data_key,
                record,
                faces,
                now,
                watchlists,
                purpose,
                source_key,
                read_back,
                forced,
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
        forced: Sequence[int],
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
                details={"faces": list(face_ids), "watchlists": lists}
                | forced_details([face_ids[i] for i in forced]),
            )
            for watchlist_id in lists:
                self._ctx.gallery.join(
                    watchlist_id, subject_id, face_ids, np.array([f.protected for f in faces])
                )
            stored = load_subject(self._ctx, tx, subject_id) if read_back else None
        return Enrollment(subject_id, tuple(face_ids), tuple(lists), stored)

    def _check_watchlists(self, refs: Sequence[str]) -> None:
        # Fail before the (slow) pipeline runs, not after.
        for ref in refs:
            resolve_watchlist(self._ctx.store, ref)


def _label(image: ImageInput, number: int, count: int) -> str | None:
    """How a refusal names photo ``number`` of ``count``: a path names itself; one of
    several uploaded photos is named by its place, so the sender knows which to replace."""
    if count == 1 or isinstance(image, str | os.PathLike):
        return None
    return f"photo {number} of {count}"
