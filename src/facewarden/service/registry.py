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

Enrolling is :mod:`facewarden.service.enroller`; adding, replacing and
removing faces of an enrolled subject is :mod:`facewarden.service.faces`;
the export's shape is :mod:`facewarden.service.export`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from facewarden.errors import FacewardenError, NotFoundError
from facewarden.privacy.suppressions import SOURCE
from facewarden.service import purposes
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.enroller import Enroller
from facewarden.service.erasure import LEDGER_APPLIED
from facewarden.service.export import PAGE, export_chunks
from facewarden.service.export_spool import Spool, spooled
from facewarden.service.records import id_index
from facewarden.service.rectification import correct
from facewarden.service.subjects import (
    Enrollment,
    FaceInfo,
    Subject,
    SubjectSummary,
    load_subject,
    summarize,
)
from facewarden.store.base import Transaction

__all__ = ["Enrollment", "FaceInfo", "Registry", "Subject", "SubjectSummary"]


def _started(first: str, rest: Iterator[str]) -> Iterator[str]:
    """``first`` then ``rest``; closing it closes ``rest`` (and the snapshot it holds)."""
    yield first
    yield from rest


class Registry(Enroller):
    """Subjects and their faces, for one actor."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit

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

        The whole export in memory: for a subject seen a great many times,
        write :meth:`export_chunks` out instead. The shape is
        :mod:`facewarden.service.export`'s (``docs/subject-export.md``).

        Raises:
            NotFoundError: no such subject (an erased subject cannot be exported).
        """
        loaded: dict[str, object] = json.loads(
            "".join(self.export_chunks(subject_id, purpose=purpose))
        )
        return loaded

    def export_chunks(
        self, subject_id: str, *, purpose: str = "", page: int = PAGE
    ) -> Iterator[str]:
        """The export of a subject as JSON text, a piece at a time, in bounded memory.

        Audited as one ``subject.export`` entry, which is part of the export.
        The subject is checked, and the first piece read, before this
        returns: a missing subject raises here, before anything is written out.
        ``page``: how many sightings (and audit entries) are held at once.

        Raises:
            NotFoundError: no such subject (an erased subject cannot be exported).
        """
        with self._ctx.writing() as tx:
            load_subject(self._ctx, tx, subject_id)
            entry = self._audit.append(
                tx,
                "subject.export",
                object_type="subject",
                object_id=subject_id,
                purpose=purposes.for_subject(self._ctx, tx, subject_id, purpose),
            )
        chunks = export_chunks(self._ctx, subject_id, upto_seq=entry.seq, page=page)
        return _started(next(chunks), chunks)

    def export_spooled(self, subject_id: str, *, purpose: str = "") -> Spool:
        """:meth:`export_chunks` read to its end now into a sealed spool, for a slow reader.

        See :func:`~facewarden.service.export_spool.spooled`. A spool the disk
        cuts short delivers nothing, and is audited so (:meth:`export_failed`).

        Raises:
            NotFoundError: no such subject.
            FacewardenError: the spool cannot be written (a full disk).
        """
        chunks = self.export_chunks(subject_id, purpose=purpose)
        try:
            return spooled(chunks, self._ctx.settings.data_dir)
        except NotFoundError:
            raise  # erased meanwhile: nothing was read
        except FacewardenError:
            self.export_failed(subject_id, purpose=purpose)
            raise

    def export_failed(self, subject_id: str, *, purpose: str = "") -> None:
        """Record that an export read by :meth:`export_chunks` was not delivered whole.

        A ``subject.export`` entry with outcome ``failed`` after the entry of the
        read: the export did not reach its file (a full disk, a quota).
        """
        with self._ctx.writing() as tx:
            self._audit.append(
                tx,
                "subject.export",
                object_type="subject",
                object_id=subject_id,
                purpose=purposes.for_subject(self._ctx, tx, subject_id, purpose),
                outcome="failed",
            )

    def update(
        self, subject_id: str, changes: dict[str, str | None], *, purpose: str = ""
    ) -> Subject:
        """Change record fields (None or "" clears an optional field).

        Raises:
            NotFoundError: no such subject.
            ConflictError: the new ID number belongs to another subject, or the new
                name to another subject of the CompreFace API.
            ConfigError: an unknown field or an invalid value.
        """
        with self._ctx.writing() as tx:
            done = correct(self._ctx, tx, subject_id, changes)
            self._audit.append(
                tx,
                "subject.update",
                object_type="subject",
                object_id=subject_id,
                purpose=purposes.for_subject(self._ctx, tx, subject_id, purpose),
                details={"fields": list(done.fields)},
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
        self,
        tx: Transaction,
        subject_id: str,
        *,
        purpose: str = "",
        record: bool = True,
        suppress_imports: bool = True,
    ) -> None:
        """:meth:`erase` inside the caller's transaction (retention purges several at once).

        The subject's import sources are suppressed for bulk imports
        (:mod:`facewarden.privacy.suppressions`) before the commit, unless
        ``suppress_imports`` is False: a retention purge (a person no longer
        needed, whom an import may bring back as needed again), or an erasure
        re-applied from the ledger (suppressed when it was first made).

        Args:
            tx: the transaction (its commit makes the erasure visible).
            subject_id: whom to erase.
            purpose: why, for the tombstone.
            record: append the subject to the erasure ledger. False when
                re-applying an erasure the ledger already holds, or when the
                caller records a whole batch at once (:meth:`record_erasures`).
        """
        faces = tx.faces_of(subject_id)
        purpose = purposes.for_subject(self._ctx, tx, subject_id, purpose)  # before it goes
        sources = tx.import_sources_of(subject_id)
        if not tx.delete_subject(subject_id):
            raise NotFoundError(f"no subject {subject_id}")
        # Their import records go with them: without a token of each, the next run of
        # the same import (a nightly sync) would enroll them again.
        if suppress_imports:
            self._ctx.keyring.import_suppressions.suppress((SOURCE, s) for s in sources)
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

    def record_erasures(self, tx: Transaction, subject_ids: Sequence[str]) -> None:
        """Record subjects erased in ``tx`` (``record=False``) as one erasure-ledger record.

        Call it as the transaction's last write: a crash before it rolls
        every one of them back, a crash after it erases every one at the next
        open (:func:`~facewarden.service.erasure.reapply_erasures`).
        """
        if subject_ids:
            tx.set_meta(LEDGER_APPLIED, str(self._ctx.keyring.record_erasures(subject_ids)))
