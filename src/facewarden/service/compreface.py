"""CompreFace's face collection, on facewarden's security model.

CompreFace names each person by a free "subject" string and each stored
photo by an "image id". Here:

* a CompreFace subject is a facewarden subject on one dedicated watchlist
  (``Settings.compreface_watchlist``, created at the first enrollment with
  the configured purpose and lawful basis); its full name is the subject
  string, encrypted like every name. A subject exists from
  ``add_subject`` on, with or without examples, as in CompreFace;
* the subject string is found again through an **alias**: a keyed HMAC of
  the string with case folded (names match ignoring case, as in
  CompreFace), keyed by the deployment's blind-index key, so lookups by
  name need no plaintext name in the database and no decryption of every
  record;
* an image id is the id of a facewarden face (a random UUID for examples
  added here); only faces of aliased subjects are reachable, so a
  CompreFace client can never touch subjects enrolled through the native API;
* enrolling needs ``Settings.compreface_lawful_basis``: without it the API
  still recognises, verifies and detects, but refuses to enroll (a record
  without a lawful basis is what facewarden never stores).

Every operation is audited like its native counterpart, with ``via:
compreface`` in the details. Recognition, verification and detection live
in :mod:`facewarden.service.compreface_match`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import unicodedata
import uuid
from dataclasses import dataclass

import numpy as np

from facewarden.errors import (
    ConflictError,
    FaceNotFoundError,
    MultipleFacesError,
    NotFoundError,
    PermissionDeniedError,
)
from facewarden.privacy.crypto import WrappedKey
from facewarden.service.audit import AuditLog
from facewarden.service.compreface_faces import (
    NO_FACE,
    detection_probability,
    find_faces,
    select_faces,
)
from facewarden.service.context import Context
from facewarden.service.enrollment import (
    ImageInput,
    PreparedFace,
    choose_face,
    model_key_of,
    prepare_face,
    recognisable_faces,
)
from facewarden.service.faces import FaceEditor
from facewarden.service.gallery import open_template
from facewarden.service.records import (
    SubjectRecord,
    invalid_input,
    new_id,
    open_record,
    seal_changes,
    seal_record,
)
from facewarden.service.registry import Registry
from facewarden.service.subjects import open_photo, store_faces, subject_row
from facewarden.service.watchlists import Watchlists
from facewarden.store.base import AliasRow, Reader, SubjectRow, Transaction, WatchlistRow

__all__ = [
    "KIND",
    "MAX_EXAMPLES_PAGE",
    "CompreFaceCollection",
    "EnrollmentDisabledError",
    "Example",
    "PhotoNotKeptError",
    "SubjectExistsError",
    "SubjectNotFoundError",
    "detection_probability",
    "select_faces",
]

KIND = "compreface"
"""The alias namespace of CompreFace subject names."""

MAX_EXAMPLES_PAGE = 2000
"""The largest page of examples: CompreFace's (Spring Data's) own cap on ``size``."""

# v1 tokens hashed the name as given (case counted); v2 folds case. Lookups
# try v2 first, then v1, so subjects stored before the change stay reachable.
_TOKEN_DOMAIN_V1 = b"facewarden/alias/compreface/v1\x00"
_TOKEN_DOMAIN = b"facewarden/alias/compreface/v2\x00"
_MAX_NAME = 200
_VIA: dict[str, object] = {"via": "compreface"}


class EnrollmentDisabledError(PermissionDeniedError):
    """Enrolling through the CompreFace-compatible API is off (no lawful basis configured)."""

    compreface_code = 32  # CompreFace's WRITING_NOT_ALLOWED


class SubjectNotFoundError(NotFoundError):
    """No CompreFace subject has that name."""

    compreface_code = 42  # CompreFace's SUBJECT_NOT_FOUND

    def __init__(self, name: str) -> None:
        super().__init__(f"Subject {name} not found")


class SubjectExistsError(ConflictError):
    """A CompreFace subject of that name (ignoring case) exists already."""

    compreface_code = 43  # CompreFace's SUBJECT_ALREADY_EXISTS (answered with 400)

    def __init__(self) -> None:
        super().__init__("Subject already exists")


class PhotoNotKeptError(NotFoundError):
    """The example exists, but its photo is not kept (photos are kept only when configured)."""

    compreface_code = 11  # CompreFace's IMAGE_NOT_FOUND


@dataclass(frozen=True)
class Example:
    """A stored example (face) of a CompreFace subject."""

    image_id: str
    subject: str


def _normal(name: str) -> str:
    return unicodedata.normalize("NFC", name.strip())


class CompreFaceCollection:
    """Subjects and examples of the CompreFace-compatible API, for one actor."""

    def __init__(
        self,
        ctx: Context,
        audit: AuditLog,
        registry: Registry,
        faces: FaceEditor,
        watchlists: Watchlists,
    ) -> None:
        self._ctx = ctx
        self._audit = audit
        self._registry = registry
        self._faces = faces
        self._watchlists = watchlists

    # -- names -------------------------------------------------------------

    def token(self, name: str) -> str:
        """The alias token of a subject name (outer spaces and case do not count)."""
        return self._hmac(_TOKEN_DOMAIN, _normal(name).casefold())

    def _hmac(self, domain: bytes, text: str) -> str:
        key = self._ctx.keyring.blind_index_key
        return hmac.new(key, domain + text.encode("utf-8"), hashlib.sha256).hexdigest()

    def find(self, reader: Reader, name: str) -> str | None:
        """The subject id of a CompreFace subject name, or None."""
        found = reader.subject_by_alias(KIND, self.token(name))
        if found is None:
            found = reader.subject_by_alias(KIND, self._hmac(_TOKEN_DOMAIN_V1, _normal(name)))
        return found

    def resolve(self, name: str) -> str:
        """The subject id of a CompreFace subject name.

        Raises:
            SubjectNotFoundError: no subject has that name here.
        """
        self._ctx.ensure_open()
        subject_id = self.find(self._ctx.store, name)
        if subject_id is None:
            raise SubjectNotFoundError(name)
        return subject_id

    def name_of(self, reader: Reader, subject_id: str) -> str:
        """The (decrypted) name of an aliased subject."""
        row, key = subject_row(reader, subject_id)
        return self._ctx.envelope.decrypt_str(
            row.fields["full_name"],
            data_key=key,
            table="subjects",
            row=subject_id,
            field="full_name",
        )

    def watchlist(self, *, create: bool = False) -> WatchlistRow | None:
        """The CompreFace watchlist; created (with the configured basis) when asked and missing."""
        self._ctx.ensure_open()
        name = self._ctx.settings.compreface_watchlist
        row = self._ctx.store.watchlist_by_name(name)
        if row is not None or not create:
            return row
        with contextlib.suppress(ConflictError):  # created meanwhile by another request
            self._watchlists.create(
                name,
                purpose=self._ctx.settings.compreface_purpose,
                lawful_basis=self._lawful_basis(),
            )
        return self._ctx.store.watchlist_by_name(name)

    def _watchlist_for_writing(self) -> WatchlistRow:
        watchlist = self.watchlist(create=True)
        if watchlist is None:
            raise NotFoundError("the CompreFace watchlist could not be created")
        return watchlist

    def _lawful_basis(self) -> str:
        basis = (self._ctx.settings.compreface_lawful_basis or "").strip()
        if not basis:
            raise EnrollmentDisabledError(
                "enrolling through the CompreFace-compatible API is off: set "
                "FACEWARDEN_COMPREFACE_LAWFUL_BASIS to the lawful basis of these enrollments"
            )
        return basis

    # -- subjects ------------------------------------------------------------

    def subject_ids(self, reader: Reader) -> list[str]:
        """Every CompreFace subject id, read a page at a time."""
        ids: list[str] = []
        page = self._ctx.settings.max_page_size
        while True:
            rows = reader.list_aliases(KIND, after=ids[-1] if ids else None, limit=page)
            ids.extend(r.subject_id for r in rows)
            if len(rows) < page:
                return ids

    def subjects(self) -> list[str]:
        """Every subject name (CompreFace lists them all, unpaged); the read is audited."""
        with self._ctx.writing() as tx:
            ids = self.subject_ids(tx)
            names = [self.name_of(tx, subject_id) for subject_id in ids]
            self._audit.append(tx, "subject.list", details={"subjects": ids, **_VIA})
        return names

    def add_subject(self, name: str) -> str:
        """Create a subject without examples (it is listed, renamable and deletable at once).

        Raises:
            PermissionDeniedError: enrolling is off (no lawful basis configured).
            SubjectExistsError: a subject of that name exists (ignoring case).
            InvalidInputError: the name is empty, too long or not printable.
        """
        basis, name = self._lawful_basis(), _check_name(name)
        watchlist = self._watchlist_for_writing()
        ctx = self._ctx
        with ctx.writing(gallery_changes=True) as tx:
            if self.find(tx, name) is not None:
                raise SubjectExistsError
            subject_id = self._insert_subject(tx, watchlist, name, basis)
            ctx.gallery.join(
                watchlist.watchlist_id,
                subject_id,
                [],
                np.empty((0, ctx.template_dim), dtype=np.float32),
            )
            self._audit.append(
                tx,
                "subject.enroll",
                object_type="subject",
                object_id=subject_id,
                purpose=ctx.watchlist_purpose(watchlist),
                details={"faces": [], "watchlists": [watchlist.watchlist_id], **_VIA},
            )
        return name

    def _insert_subject(
        self, tx: Transaction, watchlist: WatchlistRow, name: str, basis: str
    ) -> str:
        ctx, now = self._ctx, self._ctx.clock()
        subject_id = new_id("sub")
        key = ctx.envelope.new_subject_data_key(subject_id)  # its KEK, on disk first
        record = SubjectRecord(full_name=name, lawful_basis=basis)
        sealed = seal_record(ctx.envelope, key, subject_id, record)
        tx.insert_subject(SubjectRow(subject_id, key.to_bytes(), None, sealed, now, now))
        tx.insert_alias(AliasRow(KIND, self.token(name), subject_id, now))
        tx.add_membership(watchlist.watchlist_id, subject_id, now)
        return subject_id

    def rename_subject(self, name: str, new_name: str) -> bool:
        """Rename a subject; onto an existing name, merge it into that subject (as CompreFace).

        A merge moves every example (template and kept photo, re-encrypted
        under the target's key, image ids unchanged) and erases the old subject.

        Raises:
            SubjectNotFoundError: no subject ``name``.
        """
        new_name = _check_name(new_name)
        ctx = self._ctx
        with ctx.writing(gallery_changes=True) as tx:
            subject_id = self.find(tx, name)
            if subject_id is None:
                raise SubjectNotFoundError(name)
            target = self.find(tx, new_name)
            if target is not None and target != subject_id:
                self._merge(tx, subject_id, target)
                return True
            row, key = subject_row(tx, subject_id)
            envelope = ctx.envelope
            old = open_record(envelope, key, subject_id, row.fields)
            sealed = seal_changes(
                envelope, key, subject_id, old, old.updated({"full_name": new_name})
            )
            tx.update_subject(subject_id, updated_at=ctx.clock(), fields=sealed)
            tx.delete_alias(KIND, subject_id)
            tx.insert_alias(AliasRow(KIND, self.token(new_name), subject_id, ctx.clock()))
            self._audit.append(
                tx,
                "subject.update",
                object_type="subject",
                object_id=subject_id,
                details={"fields": ["full_name"], **_VIA},
            )
        return True

    def _merge(self, tx: Transaction, source: str, target: str) -> None:
        ctx = self._ctx
        _, source_key = subject_row(tx, source)
        _, target_key = subject_row(tx, target)
        photos = {p.face_id: p for p in tx.photos_of(source)}
        moved: list[tuple[str, PreparedFace]] = []
        for face in tx.faces_of(source):
            template = open_template(
                ctx.envelope, source_key, face.face_id, face.template, ctx.template_dim
            )
            photo = photos.get(face.face_id)
            jpeg = None if photo is None else open_photo(ctx, source_key, photo)
            prepared = PreparedFace(template, face.model, ctx.protector.key_id, jpeg)
            moved.append((face.face_id, prepared))
        self._registry.erase_in(tx, source, purpose=self._purpose())
        ids = store_faces(
            ctx,
            tx,
            target,
            target_key,
            [p for _, p in moved],
            ctx.clock(),
            face_ids=[i for i, _ in moved],
        )
        tx.update_subject(target, updated_at=ctx.clock())
        if ids:
            vectors = np.stack([p.protected for _, p in moved]).astype(np.float32)
            ctx.gallery.add_faces(target, ids, vectors)
        self._audit.append(
            tx,
            "face.add",
            object_type="subject",
            object_id=target,
            purpose=self._purpose(),
            details={"faces": ids, "merged_from": source, **_VIA},
        )

    def delete_subject(self, name: str) -> int:
        """Erase a subject with all its examples; returns how many examples it had.

        Raises:
            SubjectNotFoundError: no subject ``name``.
        """
        subject_id = self.resolve(name)
        count = len(self._ctx.store.faces_of(subject_id))
        self._registry.erase(subject_id, purpose=self._purpose())
        return count

    def delete_all_subjects(self) -> tuple[int, int]:
        """Erase every CompreFace subject (each erasure audited); ``(subjects, examples)``."""
        subjects = examples = 0
        with self._ctx.writing(gallery_changes=True) as tx:
            for subject_id in self.subject_ids(tx):
                examples += len(tx.faces_of(subject_id))
                self._registry.erase_in(tx, subject_id, purpose=self._purpose())
                subjects += 1
        self._ctx.store.checkpoint()
        return subjects, examples

    # -- examples ------------------------------------------------------------

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
        """
        basis, name = self._lawful_basis(), _check_name(name)
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
            # CompreFace's answer; choose_face's own message suggests a CLI option.
            raise MultipleFacesError(
                f"{len(faces)} faces found in the given image; an example needs exactly one",
                count=len(faces),
            )
        face = choose_face(faces, source="file")
        prepared = prepare_face(
            face,
            protector=ctx.protector,
            model=model_key_of(pipeline),
            image=pixels if ctx.settings.keep_enrollment_photos else None,
            source="file",
        )
        watchlist = self._watchlist_for_writing()
        now, vectors = ctx.clock(), prepared.protected[np.newaxis]
        face_id = str(uuid.uuid4())
        with ctx.writing(gallery_changes=True) as tx:
            subject_id = self.find(tx, name)
            if subject_id is not None:
                _, key = subject_row(tx, subject_id)
                store_faces(ctx, tx, subject_id, key, [prepared], now, face_ids=[face_id])
                tx.update_subject(subject_id, updated_at=now)
                action = "face.add"
                ctx.gallery.add_faces(subject_id, [face_id], vectors)
            else:
                subject_id = self._insert_subject(tx, watchlist, name, basis)
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
            owner = None if subject is None else self.find(tx, subject)
            if subject is not None and owner is None:
                return [], 0, size
            # The page only, joined in the store: not every subject's faces.
            chosen, total = tx.alias_faces(
                KIND, subject_id=owner, offset=max(0, page) * size, limit=size
            )
            names = {sid: self.name_of(tx, sid) for sid in dict.fromkeys(s for _, s in chosen)}
            self._audit.append(tx, "subject.list", details={"subjects": list(names), **_VIA})
        return [Example(face_id, names[sid]) for face_id, sid in chosen], total, size

    def delete_examples(self, name: str | None) -> int:
        """Delete every example of ``name`` (which erases the subject), or of every subject.

        An unknown subject has nothing to delete: 0.
        """
        if name is None:
            return self.delete_all_subjects()[1]
        subject_id = self.find(self._ctx.store, name)
        if subject_id is None:
            return 0
        count = len(self._ctx.store.faces_of(subject_id))
        self._registry.erase(subject_id, purpose=self._purpose())
        return count

    def owner(self, image_id: str) -> str:
        """The subject an example belongs to.

        Raises:
            NotFoundError: no such example in the CompreFace collection (code 11).
        """
        self._ctx.ensure_open()
        face = self._ctx.store.get_face(image_id)
        if face is None or self._ctx.store.alias_of(KIND, face.subject_id) is None:
            raise NotFoundError(f"Image {image_id} not found")
        return face.subject_id

    def delete_example(self, image_id: str) -> Example:
        """Delete one example; deleting a subject's last one erases the subject."""
        subject_id = self.owner(image_id)
        # One transaction: two clients deleting a subject's last two examples at
        # once must end with the subject erased, not with one of them refused.
        with self._ctx.writing(gallery_changes=True) as tx:
            example = self._delete_in(tx, subject_id, image_id)
        self._ctx.store.checkpoint()
        return example

    def _delete_in(self, tx: Transaction, subject_id: str, image_id: str) -> Example:
        name = self.name_of(tx, subject_id)
        self._audit.append(
            tx, "subject.read", object_type="subject", object_id=subject_id, details=_VIA
        )
        if len(tx.faces_of(subject_id)) <= 1:
            self._registry.erase_in(tx, subject_id, purpose=self._purpose())
        else:
            self._faces.remove_in(tx, subject_id, image_id, purpose=self._purpose())
        return Example(image_id, name)

    def delete_examples_by_id(self, image_ids: list[str]) -> list[Example]:
        """Delete several examples in one transaction; ids not in the collection are skipped."""
        store, deleted = self._ctx.store, []
        with self._ctx.writing(gallery_changes=True) as tx:
            for image_id in dict.fromkeys(image_ids):
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
        subject_id = self.owner(image_id)
        with self._ctx.writing() as tx:
            _, key = subject_row(tx, subject_id)
            row = next((p for p in tx.photos_of(subject_id) if p.face_id == image_id), None)
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
                details={"face": image_id, **_VIA},
            )
        return jpeg

    def _purpose(self) -> str:
        return self._ctx.settings.compreface_purpose

    def data_key(self, reader: Reader, subject_id: str) -> WrappedKey:
        """The wrapped data key of a subject (for reading its templates)."""
        return subject_row(reader, subject_id)[1]


def _check_name(name: str) -> str:
    if not 0 < len(name.strip()) <= _MAX_NAME or not name.isprintable():
        raise invalid_input(f"a subject name is 1 to {_MAX_NAME} printable characters")
    return name.strip()
