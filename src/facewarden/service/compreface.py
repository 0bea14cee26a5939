"""CompreFace's face collection, on facewarden's security model.

CompreFace names each person by a free "subject" string and each stored
photo by an "image id". Here:

* a CompreFace subject is a facewarden subject on one dedicated watchlist
  (``Settings.compreface_watchlist``, created at the first enrollment with
  the configured purpose and lawful basis); its full name is the subject
  string, encrypted like every name;
* the subject string is found again through an **alias**: a keyed HMAC of
  the string (the deployment's blind-index key), so lookups by name need no
  plaintext name in the database and no decryption of every record;
* an image id is a facewarden face id; only faces of aliased subjects are
  reachable, so a CompreFace client can never touch subjects enrolled
  through the native API;
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
from dataclasses import dataclass

import numpy as np

from facewarden.errors import ConflictError, NotFoundError, PermissionDeniedError
from facewarden.privacy.crypto import WrappedKey
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.enrollment import ImageInput, choose_face, model_key_of, prepare_face
from facewarden.service.faces import FaceEditor
from facewarden.service.records import (
    SubjectRecord,
    invalid_input,
    new_id,
    open_record,
    seal_changes,
    seal_record,
)
from facewarden.service.registry import Registry
from facewarden.service.subjects import store_faces, subject_row
from facewarden.service.watchlists import Watchlists
from facewarden.store.base import AliasRow, Reader, SubjectRow, WatchlistRow
from facewarden.types import Face

__all__ = [
    "KIND",
    "CompreFaceCollection",
    "EnrollmentDisabledError",
    "Example",
    "detection_probability",
    "select_faces",
]

KIND = "compreface"
"""The alias namespace of CompreFace subject names."""

_TOKEN_DOMAIN = b"facewarden/alias/compreface/v1\x00"
_MAX_NAME = 200
_VIA: dict[str, object] = {"via": "compreface"}


class EnrollmentDisabledError(PermissionDeniedError):
    """Enrolling through the CompreFace-compatible API is off (no lawful basis configured)."""

    compreface_code = 32  # CompreFace's WRITING_NOT_ALLOWED


@dataclass(frozen=True)
class Example:
    """A stored example (face) of a CompreFace subject."""

    image_id: str
    subject: str


def detection_probability(face: Face) -> float:
    """CompreFace's ``box.probability`` for a face: a logistic squash of the detector margin.

    Not a calibrated probability: 0.5 at the detector's own threshold,
    0.88 at a margin of 1, 0.98 at 2.
    """
    return float(1.0 / (1.0 + np.exp(-2.0 * face.detector_score)))


def select_faces(faces: list[Face], *, limit: int, min_probability: float | None) -> list[Face]:
    """Faces at or over ``min_probability``, biggest first, at most ``limit`` (0: all)."""
    kept = [
        f for f in faces if min_probability is None or detection_probability(f) >= min_probability
    ]
    kept.sort(key=lambda f: f.box.area, reverse=True)
    return kept[:limit] if limit > 0 else kept


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
        """The alias token of a subject name (exact but for outer spaces: case counts)."""
        text = unicodedata.normalize("NFC", name.strip())
        message = _TOKEN_DOMAIN + text.encode("utf-8")
        return hmac.new(self._ctx.keyring.blind_index_key, message, hashlib.sha256).hexdigest()

    def resolve(self, name: str) -> str:
        """The subject id of a CompreFace subject name.

        Raises:
            NotFoundError: no subject has that name here.
        """
        self._ctx.ensure_open()
        subject_id = self._ctx.store.subject_by_alias(KIND, self.token(name))
        if subject_id is None:
            raise NotFoundError(f"Subject {name!r} not found")
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

    def _lawful_basis(self) -> str:
        basis = (self._ctx.settings.compreface_lawful_basis or "").strip()
        if not basis:
            raise EnrollmentDisabledError(
                "enrolling through the CompreFace-compatible API is off: set "
                "FACEWARDEN_COMPREFACE_LAWFUL_BASIS to the lawful basis of these enrollments"
            )
        return basis

    # -- subjects ------------------------------------------------------------

    def subjects(self) -> list[str]:
        """The subject names, by subject id, at most ``Settings.max_page_size`` (audited)."""
        limit = self._ctx.settings.max_page_size
        with self._ctx.writing() as tx:
            aliases = tx.list_aliases(KIND, limit=limit)
            names = [self.name_of(tx, a.subject_id) for a in aliases]
            self._audit.append(
                tx,
                "subject.list",
                details={"subjects": [a.subject_id for a in aliases], **_VIA},
            )
        return names

    def add_subject(self, name: str) -> str:
        """Accept a subject name (a person is stored with their first example, not before).

        Raises:
            PermissionDeniedError: enrolling is off (no lawful basis configured).
            ConfigError: the name is empty, too long or not printable.
        """
        self._lawful_basis()
        return _check_name(name)

    def rename_subject(self, name: str, new_name: str) -> None:
        """Rename a subject (its full name and its alias, in one transaction).

        Raises:
            NotFoundError: no subject ``name``.
            ConflictError: ``new_name`` exists (merging two people is not done here).
        """
        new_name = _check_name(new_name)
        new_token = self.token(new_name)
        with self._ctx.writing() as tx:
            subject_id = tx.subject_by_alias(KIND, self.token(name))
            if subject_id is None:
                raise NotFoundError(f"Subject {name!r} not found")
            if tx.subject_by_alias(KIND, new_token) not in (None, subject_id):
                raise ConflictError(f"Subject {new_name!r} exists; merging is not supported")
            row, key = subject_row(tx, subject_id)
            envelope = self._ctx.envelope
            old = open_record(envelope, key, subject_id, row.fields)
            sealed = seal_changes(
                envelope, key, subject_id, old, old.updated({"full_name": new_name})
            )
            tx.update_subject(subject_id, updated_at=self._ctx.clock(), fields=sealed)
            tx.delete_alias(KIND, subject_id)
            tx.insert_alias(AliasRow(KIND, new_token, subject_id, self._ctx.clock()))
            self._audit.append(
                tx,
                "subject.update",
                object_type="subject",
                object_id=subject_id,
                details={"fields": ["full_name"], **_VIA},
            )

    def delete_subject(self, name: str) -> int:
        """Erase a subject with all its examples; returns how many examples it had."""
        subject_id = self.resolve(name)
        count = len(self._ctx.store.faces_of(subject_id))
        self._registry.erase(subject_id, purpose=self._purpose())
        return count

    # -- examples ------------------------------------------------------------

    def add_example(
        self, name: str, image: ImageInput, *, min_probability: float | None = None
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
        faces = select_faces(pipeline.run(pixels), limit=0, min_probability=min_probability)
        face = choose_face(faces, source="file")
        prepared = prepare_face(
            face,
            protector=ctx.protector,
            model=model_key_of(pipeline),
            image=pixels if ctx.settings.keep_enrollment_photos else None,
            source="file",
        )
        watchlist = self.watchlist(create=True)
        if watchlist is None:
            raise NotFoundError("the CompreFace watchlist could not be created")
        token, now, vectors = self.token(name), ctx.clock(), prepared.protected[np.newaxis]
        with ctx.writing(gallery_changes=True) as tx:
            subject_id = tx.subject_by_alias(KIND, token)
            if subject_id is not None:
                _, key = subject_row(tx, subject_id)
                [face_id] = store_faces(ctx, tx, subject_id, key, [prepared], now)
                tx.update_subject(subject_id, updated_at=now)
                action = "face.add"
                ctx.gallery.add_faces(subject_id, [face_id], vectors)
            else:
                subject_id, key = new_id("sub"), ctx.envelope.new_data_key()
                record = SubjectRecord(full_name=name, lawful_basis=basis)
                sealed = seal_record(ctx.envelope, key, subject_id, record)
                tx.insert_subject(SubjectRow(subject_id, key.to_bytes(), None, sealed, now, now))
                tx.insert_alias(AliasRow(KIND, token, subject_id, now))
                [face_id] = store_faces(ctx, tx, subject_id, key, [prepared], now)
                tx.add_membership(watchlist.watchlist_id, subject_id, now)
                action = "subject.enroll"
                ctx.gallery.join(watchlist.watchlist_id, subject_id, [face_id], vectors)
            self._audit.append(
                tx,
                action,
                object_type="subject",
                object_id=subject_id,
                purpose=watchlist.purpose,
                details={"faces": [face_id], "watchlists": [watchlist.watchlist_id], **_VIA},
            )
        return Example(face_id, name)

    def examples(
        self, subject: str | None = None, *, page: int = 0, size: int = 20
    ) -> tuple[list[Example], int]:
        """A page of examples (of one subject, or of all) and how many there are in all.

        ``size`` is capped by ``Settings.max_page_size``; names are decrypted
        (and the read audited) for the page only.
        """
        size = max(1, min(size, self._ctx.settings.max_page_size))
        owner = None if subject is None else self.resolve(subject)
        with self._ctx.writing() as tx:
            # The page only, joined in the store: not every subject's faces.
            chosen, total = tx.alias_faces(
                KIND, subject_id=owner, offset=max(0, page) * size, limit=size
            )
            chosen = chosen if page >= 0 else []
            names = {sid: self.name_of(tx, sid) for sid in dict.fromkeys(s for _, s in chosen)}
            self._audit.append(tx, "subject.list", details={"subjects": list(names), **_VIA})
        return [Example(face_id, names[sid]) for face_id, sid in chosen], total

    def delete_examples(self, name: str) -> int:
        """Delete every example of ``name``: the subject is erased (a person needs a face)."""
        return self.delete_subject(name)

    def owner(self, image_id: str) -> str:
        """The subject an example belongs to.

        Raises:
            NotFoundError: no such example in the CompreFace collection.
        """
        self._ctx.ensure_open()
        face = self._ctx.store.get_face(image_id)
        if face is None or self._ctx.store.alias_of(KIND, face.subject_id) is None:
            raise NotFoundError(f"Image {image_id!r} not found")
        return face.subject_id

    def delete_example(self, image_id: str) -> Example:
        """Delete one example; deleting a subject's last one erases the subject."""
        subject_id = self.owner(image_id)
        # One transaction: two clients deleting a subject's last two examples at
        # once must end with the subject erased, not with one of them refused.
        with self._ctx.writing(gallery_changes=True) as tx:
            name = self.name_of(tx, subject_id)
            self._audit.append(
                tx, "subject.read", object_type="subject", object_id=subject_id, details=_VIA
            )
            if len(tx.faces_of(subject_id)) <= 1:
                self._registry.erase_in(tx, subject_id, purpose=self._purpose())
            else:
                self._faces.remove_in(tx, subject_id, image_id, purpose=self._purpose())
        self._ctx.store.checkpoint()
        return Example(image_id, name)

    def _purpose(self) -> str:
        return self._ctx.settings.compreface_purpose

    def data_key(self, reader: Reader, subject_id: str) -> WrappedKey:
        """The wrapped data key of a subject (for reading its templates)."""
        return subject_row(reader, subject_id)[1]


def _check_name(name: str) -> str:
    if not 0 < len(name.strip()) <= _MAX_NAME or not name.isprintable():
        raise invalid_input(f"a subject name is 1 to {_MAX_NAME} printable characters")
    return name.strip()
