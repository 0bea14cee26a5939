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
import re
from dataclasses import dataclass

import numpy as np

from facewarden.errors import (
    ConflictError,
    NotFoundError,
)
from facewarden.privacy.crypto import WrappedKey
from facewarden.service.audit import AuditLog
from facewarden.service.compreface_errors import (
    EnrollmentDisabledError,
    ExampleNotFoundError,
    SubjectExistsError,
    SubjectNotFoundError,
)
from facewarden.service.compreface_names import KIND, alias_token, find_alias
from facewarden.service.context import Context
from facewarden.service.enrollment import PreparedFace
from facewarden.service.gallery import open_template
from facewarden.service.names import is_typed_text
from facewarden.service.records import (
    SubjectRecord,
    invalid_input,
    new_id,
    seal_record,
)
from facewarden.service.rectification import correct
from facewarden.service.registry import Registry
from facewarden.service.restriction import refuse_if_restricted
from facewarden.service.same_person import check_joining
from facewarden.service.subjects import open_photo, store_faces, subject_row
from facewarden.service.watchlists import Watchlists
from facewarden.store.base import AliasRow, Reader, SubjectRow, Transaction, WatchlistRow

__all__ = ["KIND", "CompreFaceCollection", "Example", "check_name", "image_id_of"]

_MAX_NAME = 200
_VIA: dict[str, object] = {"via": "compreface"}


@dataclass(frozen=True)
class Example:
    """A stored example (face) of a CompreFace subject."""

    image_id: str
    subject: str


class CompreFaceCollection:
    """Subjects and examples of the CompreFace-compatible API, for one actor."""

    def __init__(
        self,
        ctx: Context,
        audit: AuditLog,
        registry: Registry,
        watchlists: Watchlists,
    ) -> None:
        self._ctx = ctx
        self._audit = audit
        self._registry = registry
        self._watchlists = watchlists

    # -- names -------------------------------------------------------------

    def token(self, name: str) -> str:
        """The alias token of a subject name (outer spaces and case do not count)."""
        return alias_token(self._ctx, name)

    def find(self, reader: Reader, name: str) -> str | None:
        """The subject id of a CompreFace subject name, or None."""
        return find_alias(self._ctx, reader, name)

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
        return self._name(subject_id, *subject_row(reader, subject_id))

    def _name(self, subject_id: str, row: SubjectRow, key: WrappedKey) -> str:
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
                lawful_basis=self.lawful_basis(),
            )
        return self._ctx.store.watchlist_by_name(name)

    def watchlist_for_writing(self) -> WatchlistRow:
        """The CompreFace watchlist, created if need be (needs the lawful basis)."""
        watchlist = self.watchlist(create=True)
        if watchlist is None:
            raise NotFoundError("the CompreFace watchlist could not be created")
        return watchlist

    def lawful_basis(self) -> str:
        """The configured lawful basis of enrollments.

        Raises:
            EnrollmentDisabledError: none is configured (enrolling is off).
        """
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
        """Every subject name, oldest subject first (CompreFace lists them all, unpaged,
        as they were stored); the read is audited."""
        with self._ctx.writing() as tx:
            ids = self.subject_ids(tx)
            rows = {subject_id: subject_row(tx, subject_id) for subject_id in ids}
            ids.sort(key=lambda subject_id: (rows[subject_id][0].created_at, subject_id))
            names = [self._name(subject_id, *rows[subject_id]) for subject_id in ids]
            self._audit.append(
                tx, "subject.list", purpose=self.purpose, details={"subjects": ids, **_VIA}
            )
        return names

    def add_subject(self, name: str) -> str:
        """Create a subject without examples (it is listed, renamable and deletable at once).

        Raises:
            PermissionDeniedError: enrolling is off (no lawful basis configured).
            SubjectExistsError: a subject of that name exists (ignoring case).
            InvalidInputError: the name is empty, too long or not printable.
        """
        basis, name = self.lawful_basis(), check_name(name)
        watchlist = self.watchlist_for_writing()
        ctx = self._ctx
        with ctx.writing(gallery_changes=True) as tx:
            if self.find(tx, name) is not None:
                raise SubjectExistsError
            subject_id = self.insert_subject(tx, watchlist, name, basis)
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

    def insert_subject(
        self, tx: Transaction, watchlist: WatchlistRow, name: str, basis: str
    ) -> str:
        """Store a new subject: record, alias and membership (no faces, no gallery change)."""
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
        A new name that is exactly ``name`` changes nothing and is False, before
        any lookup (as in CompreFace); another case of it is a rename.

        Raises:
            SubjectNotFoundError: no subject ``name``.
            FaceMismatchError: a merge whose examples are not all of one person
                (:mod:`facewarden.service.same_person`); nothing changes.
        """
        same = new_name == name
        new_name = check_name(new_name)
        if same:
            return False
        ctx = self._ctx
        with ctx.writing(gallery_changes=True) as tx:
            subject_id = self.find(tx, name)
            if subject_id is None:
                raise SubjectNotFoundError(name)
            target = self.find(tx, new_name)
            if target is not None and target != subject_id:
                for merged in (subject_id, target):
                    refuse_if_restricted(tx, merged, "merged")
                self._merge(tx, subject_id, target)
                return True
            # Sealed, re-aliased, noted for compaction and recorded in the ledger, as
            # any correction of a record (a restore of an older backup renames again).
            correct(ctx, tx, subject_id, {"full_name": new_name})
            self._audit.append(
                tx,
                "subject.update",
                object_type="subject",
                object_id=subject_id,
                purpose=self.purpose,
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
            prepared = PreparedFace(
                template, face.model, ctx.protector.key_id, jpeg, source=f"example {face.face_id}"
            )
            moved.append((face.face_id, prepared))
        # A merge adds the examples to the target's: they must be one person's too.
        check_joining(
            ctx,
            tx,
            target,
            target_key,
            [p for _, p in moved],
            name=self.name_of(tx, target),
            hint=" (merge only subjects of one person)",
        )
        self._registry.erase_in(tx, source, purpose=self.purpose)
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
            purpose=self.purpose,
            details={"faces": ids, "merged_from": source, **_VIA},
        )

    def delete_subject(self, name: str) -> str:
        """Erase a subject with all its examples; returns its name as stored (CompreFace's answer).

        Raises:
            SubjectNotFoundError: no subject ``name``.
        """
        subject_id = self.resolve(name)
        stored = self.name_of(self._ctx.store, subject_id)
        self._registry.erase(subject_id, purpose=self.purpose)
        return stored

    def delete_all_subjects(self) -> tuple[int, int]:
        """Erase every CompreFace subject (each erasure audited); ``(subjects, examples)``."""
        subjects = examples = 0
        with self._ctx.writing(gallery_changes=True) as tx:
            for subject_id in self.subject_ids(tx):
                examples += len(tx.faces_of(subject_id))
                self._registry.erase_in(tx, subject_id, purpose=self.purpose)
                subjects += 1
        self._ctx.store.checkpoint()
        return subjects, examples

    # -- examples ------------------------------------------------------------

    def owner(self, image_id: str) -> str:
        """The subject an example belongs to.

        Raises:
            ExampleNotFoundError: no such example in the CompreFace collection (code 44).
        """
        self._ctx.ensure_open()
        face = self._ctx.store.get_face(image_id)
        if face is None or self._ctx.store.alias_of(KIND, face.subject_id) is None:
            raise ExampleNotFoundError(image_id)
        return face.subject_id

    @property
    def purpose(self) -> str:
        """The purpose recorded with every access the CompreFace API makes to a person."""
        return self._ctx.settings.compreface_purpose

    def data_key(self, reader: Reader, subject_id: str) -> WrappedKey:
        """The wrapped data key of a subject (for reading its templates)."""
        return subject_row(reader, subject_id)[1]


def check_name(name: str) -> str:
    """A subject name, stripped.

    A name is a segment of the subject's URL (``/api/v1/recognition/subjects/{name}``),
    so it may hold no ``/`` and be neither ``.`` nor ``..``: clients drop such a
    segment before sending, and deleting subject ``.`` would delete every subject.

    Raises:
        InvalidInputError: empty or blank ("Subject name is empty", as CompreFace
            says), longer than 200 characters, not printable, or not addressable in a URL.
    """
    if not name.strip():
        raise invalid_input("Subject name is empty")  # CompreFace's words
    if len(name.strip()) > _MAX_NAME or not is_typed_text(name):
        raise invalid_input(f"a subject name is 1 to {_MAX_NAME} printable characters")
    if "/" in name or name.strip() in {".", ".."}:
        raise invalid_input(
            "a subject name may not contain '/' or be '.' or '..': its URL could not address it"
        )
    return name.strip()


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def image_id_of(text: str) -> str:
    """An image id as given, in the lower case it is stored in where it is a UUID.

    CompreFace binds image ids as Java UUIDs, so any case of the hex digits
    names the same example (clients such as Swift's ``uuidString`` write capitals);
    examples added here have ``uuid4`` ids in lower case. Other ids are kept as
    they are.
    """
    return text.lower() if _UUID.fullmatch(text) else text
