"""The examples of CompreFace subjects: add, list a page, delete, download the kept photo.

An example is a facewarden face of a CompreFace subject (see
:mod:`facewarden.service.compreface`), its image id a random UUID. Adding
one runs the enrollment pipeline and facewarden's quality bar; a photo is
kept (encrypted, as an EXIF-free crop) only when
``Settings.keep_enrollment_photos`` says so, and every download is audited.
"""

from __future__ import annotations

import uuid

import numpy as np

from facewarden.errors import FaceNotFoundError, MultipleFacesError
from facewarden.service.audit import AuditLog
from facewarden.service.compreface import (
    KIND,
    CompreFaceCollection,
    Example,
    check_name,
    image_id_of,
)
from facewarden.service.compreface_errors import PhotoNotKeptError
from facewarden.service.compreface_faces import NO_FACE, find_faces
from facewarden.service.context import Context
from facewarden.service.enrollment import (
    ImageInput,
    model_key_of,
    prepare_face,
    recognisable_faces,
)
from facewarden.service.faces import FaceEditor
from facewarden.service.registry import Registry
from facewarden.service.restriction import refuse_if_restricted
from facewarden.service.same_person import check_joining
from facewarden.service.subjects import open_photo, store_faces, subject_row
from facewarden.store.base import Transaction

__all__ = ["MAX_EXAMPLES_PAGE", "CompreFaceExamples"]

MAX_EXAMPLES_PAGE = 2000
"""The largest page of examples: CompreFace's (Spring Data's) own cap on ``size``."""

_VIA: dict[str, object] = {"via": "compreface"}


class CompreFaceExamples:
    """Examples of the CompreFace-compatible API, for one actor."""

    def __init__(
        self,
        ctx: Context,
        audit: AuditLog,
        registry: Registry,
        faces: FaceEditor,
        collection: CompreFaceCollection,
    ) -> None:
        self._ctx = ctx
        self._audit = audit
        self._registry = registry
        self._faces = faces
        self._collection = collection

    def add_example(
        self,
        name: str,
        image: ImageInput,
        *,
        min_probability: float | None = None,
        detect_faces: bool = True,
    ) -> Example:
        """Enroll one photo of ``name``: a new subject, or one more face of an existing one.

        Raises:
            PermissionDeniedError: enrolling is off (no lawful basis configured).
            ImageError: not an acceptable image.
            FaceNotFoundError: no face (over ``min_probability``), or one below the quality bar.
            MultipleFacesError: several faces.
            FaceMismatchError: the face is not the person of the subject's other
                examples (this API has no override: the native one has ``force``).
        """
        basis, name = self._collection.lawful_basis(), check_name(name)
        ctx = self._ctx
        ctx.refresh(need_gallery=False)  # protect with the current template key
        pipeline = ctx.enroll_pipeline
        pixels = pipeline.decode(image, name="file")
        faces = find_faces(
            pipeline,
            pixels,
            min_probability=min_probability,
            detect_faces=detect_faces,
            required=False,
        )
        if not faces:
            raise FaceNotFoundError(NO_FACE)
        faces = recognisable_faces(faces)
        if len(faces) > 1:
            # CompreFace's answer, word for word (its TooManyFacesException): clients
            # match these texts. choose_face's own message suggests a CLI option.
            raise MultipleFacesError("More than one face in the source image", count=len(faces))
        [face] = faces
        if face.quality is not None and not face.quality.usable:
            # choose_face would say the same but suggest forcing, which this API cannot.
            raise FaceNotFoundError(
                "No usable face is found in the given image: " + "; ".join(face.quality.reasons)
            )
        prepared = prepare_face(
            face,
            protector=ctx.protector,
            model=model_key_of(pipeline),
            image=pixels if ctx.settings.keep_enrollment_photos else None,
            source="file",
        )
        watchlist = self._collection.watchlist_for_writing()
        now, vectors = ctx.clock(), prepared.protected[np.newaxis]
        face_id = str(uuid.uuid4())
        with ctx.writing(gallery_changes=True) as tx:
            subject_id = self._collection.find(tx, name)
            if subject_id is not None:
                refuse_if_restricted(tx, subject_id, "given examples")
                _, key = subject_row(tx, subject_id)
                check_joining(
                    ctx,
                    tx,
                    subject_id,
                    key,
                    [prepared],
                    name=name,
                    hint=" (an example must show the subject)",
                )
                store_faces(ctx, tx, subject_id, key, [prepared], now, face_ids=[face_id])
                tx.update_subject(subject_id, updated_at=now)
                action = "face.add"
                ctx.gallery.add_faces(subject_id, [face_id], vectors)
            else:
                subject_id = self._collection.insert_subject(tx, watchlist, name, basis)
                _, key = subject_row(tx, subject_id)
                store_faces(ctx, tx, subject_id, key, [prepared], now, face_ids=[face_id])
                action = "subject.enroll"
                ctx.gallery.join(watchlist.watchlist_id, subject_id, [face_id], vectors)
            self._audit.append(
                tx,
                action,
                object_type="subject",
                object_id=subject_id,
                purpose=ctx.watchlist_purpose(watchlist),
                details={"faces": [face_id], "watchlists": [watchlist.watchlist_id], **_VIA},
            )
        return Example(face_id, name)

    def examples(
        self, subject: str | None = None, *, page: int = 0, size: int = 20
    ) -> tuple[list[Example], int, int]:
        """A page of examples (of one subject, or of all): ``(examples, total, page size)``.

        ``size`` is capped at :data:`MAX_EXAMPLES_PAGE` (the page size used is
        returned); an unknown subject has no examples. Names are decrypted
        (and the read audited) for the page only.
        """
        size = max(1, min(size, MAX_EXAMPLES_PAGE))
        with self._ctx.writing() as tx:
            owner = None if subject is None else self._collection.find(tx, subject)
            if subject is not None and owner is None:
                return [], 0, size
            # The page only, joined in the store: not every subject's faces.
            chosen, total = tx.alias_faces(
                KIND, subject_id=owner, offset=max(0, page) * size, limit=size
            )
            names = {
                sid: self._collection.name_of(tx, sid)
                for sid in dict.fromkeys(s for _, s in chosen)
            }
            self._audit.append(
                tx,
                "subject.list",
                purpose=self._collection.purpose,
                details={"subjects": list(names), **_VIA},
            )
        return [Example(face_id, names[sid]) for face_id, sid in chosen], total, size

    def delete_examples(self, name: str | None) -> int:
        """Delete every example of ``name`` (which erases the subject), or of every subject.

        An unknown subject has nothing to delete: 0.
        """
        if name is None:
            return self._collection.delete_all_subjects()[1]
        subject_id = self._collection.find(self._ctx.store, name)
        if subject_id is None:
            return 0
        count = len(self._ctx.store.faces_of(subject_id))
        self._registry.erase(subject_id, purpose=self._collection.purpose)
        return count

    def delete_example(self, image_id: str) -> Example:
        """Delete one example; deleting a subject's last one erases the subject."""
        image_id = image_id_of(image_id)
        subject_id = self._collection.owner(image_id)
        # One transaction: two clients deleting a subject's last two examples at
        # once must end with the subject erased, not with one of them refused.
        with self._ctx.writing(gallery_changes=True) as tx:
            example = self._delete_in(tx, subject_id, image_id)
        self._ctx.store.checkpoint()
        return example

    def _delete_in(self, tx: Transaction, subject_id: str, image_id: str) -> Example:
        name = self._collection.name_of(tx, subject_id)
        self._audit.append(
            tx,
            "subject.read",
            object_type="subject",
            object_id=subject_id,
            purpose=self._collection.purpose,
            details=_VIA,
        )
        if len(tx.faces_of(subject_id)) <= 1:
            self._registry.erase_in(tx, subject_id, purpose=self._collection.purpose)
        else:
            self._faces.remove_in(tx, subject_id, image_id, purpose=self._collection.purpose)
        return Example(image_id, name)

    def delete_examples_by_id(self, image_ids: list[str]) -> list[Example]:
        """Delete several examples in one transaction; ids not in the collection are skipped."""
        store, deleted = self._ctx.store, []
        with self._ctx.writing(gallery_changes=True) as tx:
            for image_id in dict.fromkeys(map(image_id_of, image_ids)):
                face = tx.get_face(image_id)
                if face is None or tx.alias_of(KIND, face.subject_id) is None:
                    continue
                deleted.append(self._delete_in(tx, face.subject_id, image_id))
        store.checkpoint()
        return deleted

    def photo(self, image_id: str) -> bytes:
        """The kept photo (an EXIF-free JPEG crop around the face) of an example; audited.

        Raises:
            NotFoundError: no such example.
            PhotoNotKeptError: the example's photo is not kept.
        """
        image_id = image_id_of(image_id)
        subject_id = self._collection.owner(image_id)
        with self._ctx.writing() as tx:
            _, key = subject_row(tx, subject_id)
            row = tx.get_photo(image_id)  # the owner's (above); not every photo of theirs
            if row is None:
                raise PhotoNotKeptError(
                    f"the photo of image {image_id} is not kept: facewarden keeps enrollment "
                    "photos only with FACEWARDEN_KEEP_ENROLLMENT_PHOTOS=true"
                )
            jpeg = open_photo(self._ctx, key, row)
            self._audit.append(
                tx,
                "photo.read",
                object_type="subject",
                object_id=subject_id,
                purpose=self._collection.purpose,
                details={"face": image_id, **_VIA},
            )
        return jpeg
