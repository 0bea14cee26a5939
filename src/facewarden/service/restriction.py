"""Restriction of processing (GDPR Art. 18): a person kept, but no longer matched.

A person contests a match or the accuracy of their record, objects, or
needs their data kept for a legal claim: while that is settled, their data
is stored but not used. A restricted subject leaves every watchlist, so no
identification, camera or CompreFace recognition finds them (the galleries
are their watchlists' members); they cannot be put on a watchlist again,
verified against, given CompreFace examples or merged; they can still be
read, exported, corrected (Art. 16) and erased (Art. 17). Alerts about them
already raised leave the desk and the live views (:func:`restricted_among`);
their sightings stay stored. Lifting the restriction puts them back on the
watchlists they left that still exist.

The mark is a field of the subject's row (:data:`RESTRICTION`, beside the
record's fields, not one of them): the reason, since when, and the
watchlists left, sealed with the subject's data key, so it goes with the
subject at erasure and is in their export. Restricting and lifting are
audited (``subject.restrict``, ``subject.lift_restriction``); neither moves
the record's ``updated_at``, from which retention counts.

Each is also recorded in the key directory's revocation ledger
(:mod:`facewarden.privacy.revocations`) before it commits, so a database
restored from a backup taken before a restriction is restricted again when
it is opened (:func:`reapply_restrictions`, with a reason saying so); one
restricted and lifted since stays lifted. A lift is not re-applied: a backup
taken while someone was restricted restores them restricted, until lifted
again (the ledger errs on the side of matching no one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from facewarden.errors import ConflictError, InvalidInputError
from facewarden.privacy.crypto import Envelope, WrappedKey
from facewarden.privacy.revocations import APPLIED, Revocation
from facewarden.service import purposes
from facewarden.service.audit import AuditLog
from facewarden.service.compaction import note_compaction_due
from facewarden.service.context import Context
from facewarden.service.records import RESTRICTION, TABLE
from facewarden.service.subjects import subject_row
from facewarden.store.base import Reader, SubjectRow, Transaction

__all__ = [
    "RESTRICTION",
    "Restriction",
    "Restrictions",
    "reapply_restrictions",
    "refuse_if_restricted",
    "restricted_among",
    "restriction_of",
]

_REASON_LIMIT = 500
_REAPPLIED_REASON = (
    "re-applied when a database restored from a backup taken before the restriction was "
    "opened (its own reason is in the audit log's subject.restrict entry)"
)


@dataclass(frozen=True)
class Restriction:
    """Why and since when a subject is restricted, and the watchlists it left."""

    reason: str
    since: datetime
    watchlists_left: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output (the export)."""
        return {
            "reason": self.reason,
            "since": self.since.isoformat(),
            "watchlists_left": list(self.watchlists_left),
        }


def restriction_of(envelope: Envelope, row: SubjectRow) -> Restriction | None:
    """The subject's restriction, opened; None when it is not restricted."""
    sealed = row.fields.get(RESTRICTION)
    if sealed is None:
        return None
    data = json.loads(
        envelope.decrypt_str(
            sealed,
            data_key=WrappedKey.from_bytes(row.wrapped_key),
            table=TABLE,
            row=row.subject_id,
            field=RESTRICTION,
        )
    )
    return Restriction(
        str(data["reason"]),
        datetime.fromisoformat(data["since"]),
        tuple(str(w) for w in data["watchlists_left"]),
    )


def refuse_if_restricted(reader: Reader, subject_id: str, doing: str) -> None:
    """Refuse ``doing`` to a restricted subject (a missing one is the caller's to report).

    Raises:
        ConflictError: the subject is restricted.
    """
    if restricted_among(reader, (subject_id,)):
        raise ConflictError(
            f"subject {subject_id} is restricted (GDPR Art. 18): kept, but not {doing} "
            "until the restriction is lifted"
        )


def restricted_among(reader: Reader, subject_ids: Iterable[str]) -> set[str]:
    """Those of ``subject_ids`` whose processing is restricted.

    What the desk and the live views leave out: a sighting recorded before the
    restriction would otherwise go on showing the person's name and face to
    operators, which is processing Art. 18 stops. One read per distinct
    subject; the mark is looked for, not opened.
    """
    restricted = set()
    for subject_id in set(subject_ids):
        row = reader.get_subject(subject_id)
        if row is not None and RESTRICTION in row.fields:
            restricted.add(subject_id)
    return restricted


class Restrictions:
    """Restrict a subject's processing and lift it, for one actor (audited)."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit

    def restrict(self, subject_id: str, *, reason: str, purpose: str = "") -> Restriction:
        """Keep the subject but match them nowhere: off every watchlist, marked, audited.

        Raises:
            NotFoundError: no such subject.
            InvalidInputError: no reason, or one over 500 characters.
            ConflictError: the subject is restricted already.
        """
        reason = reason.strip()
        if not reason or len(reason) > _REASON_LIMIT:
            raise InvalidInputError(
                f"a restriction needs a reason of 1 to {_REASON_LIMIT} characters"
            )
        ctx = self._ctx
        with ctx.writing(gallery_changes=True) as tx:
            row, _ = subject_row(tx, subject_id)
            if RESTRICTION in row.fields:
                raise ConflictError(f"subject {subject_id} is restricted already")
            purpose = purposes.for_subject(ctx, tx, subject_id, purpose)  # before it leaves
            mark = _mark(ctx, tx, row, reason)
            # In the ledger before the commit: a restore of an older backup restricts again.
            tx.set_meta(APPLIED, str(ctx.keyring.revocations.restrict_subject(subject_id)))
            self._audit.append(
                tx,
                "subject.restrict",
                object_type="subject",
                object_id=subject_id,
                purpose=purpose,
                details={"watchlists": list(mark.watchlists_left)},
            )
        return mark

    def lift(self, subject_id: str, *, purpose: str = "") -> tuple[str, ...]:
        """Lift the restriction; returns the watchlists the subject is back on (audited).

        Raises:
            NotFoundError: no such subject.
            ConflictError: the subject is not restricted.
        """
        ctx = self._ctx
        with ctx.writing(gallery_changes=True) as tx:
            row, key = subject_row(tx, subject_id)
            mark = restriction_of(ctx.envelope, row)
            if mark is None:
                raise ConflictError(f"subject {subject_id} is not restricted")
            tx.update_subject(subject_id, updated_at=row.updated_at, fields={RESTRICTION: None})
            tx.set_meta(APPLIED, str(ctx.keyring.revocations.lift_restriction(subject_id)))
            # The reason lies in the deleted row until compacted.
            note_compaction_due(tx, ["subject_fields"])
            now = ctx.clock()
            back = tuple(
                w
                for w in mark.watchlists_left
                if tx.get_watchlist(w) is not None and tx.add_membership(w, subject_id, now)
            )
            if back:
                face_ids, vectors = ctx.templates_of(tx, subject_id, key)
                for watchlist_id in back:
                    ctx.gallery.join(watchlist_id, subject_id, face_ids, vectors)
            self._audit.append(
                tx,
                "subject.lift_restriction",
                object_type="subject",
                object_id=subject_id,
                purpose=purposes.for_subject(ctx, tx, subject_id, purpose),
                details={"watchlists": list(back)},
            )
        return back


def reapply_restrictions(ctx: Context, tx: Transaction, records: list[Revocation]) -> list[str]:
    """Restrict again the subjects the ledger last records as restricted that are not here.

    A database restored from a backup taken before their restriction holds
    them unrestricted, on their watchlists. Run in a transaction that
    changes the gallery. Returns the subjects restricted now (each audited
    ``subject.restrict`` by the caller's report).
    """
    last: dict[str, str] = {}
    for record in records:
        if record.kind in ("restrict", "lift"):
            last[record.target] = record.kind
    again = []
    for subject_id, kind in last.items():
        row = tx.get_subject(subject_id)
        if kind == "restrict" and row is not None and RESTRICTION not in row.fields:
            _mark(ctx, tx, row, _REAPPLIED_REASON)
            again.append(subject_id)
    return again


def _mark(ctx: Context, tx: Transaction, row: SubjectRow, reason: str) -> Restriction:
    """Take the subject off every watchlist and seal the mark on their row."""
    subject_id = row.subject_id
    left = tuple(sorted(tx.watchlists_of(subject_id)))
    for watchlist_id in left:
        tx.remove_membership(watchlist_id, subject_id)
        ctx.gallery.leave(watchlist_id, subject_id)
    mark = Restriction(reason, ctx.clock(), left)
    sealed = ctx.envelope.encrypt_str(
        json.dumps(mark.to_dict()),
        data_key=WrappedKey.from_bytes(row.wrapped_key),
        table=TABLE,
        row=subject_id,
        field=RESTRICTION,
    )
    tx.update_subject(subject_id, updated_at=row.updated_at, fields={RESTRICTION: sealed})
    return mark
