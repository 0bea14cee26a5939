"""Rectification (GDPR Art. 16): a corrected record stays corrected, even after a restore.

:func:`correct` is the one way a subject's record fields change (the
registry's update, a CompreFace rename): it seals the new values, moves the
ID number's blind-index token and the CompreFace alias, notes the old values
for compaction, and records the correction in the key directory's revocation
ledger (:mod:`facewarden.privacy.revocations`) before the commit.

A database restored from a backup taken before a correction holds the old,
inaccurate values, and would serve them again without anyone knowing
(Art. 5(1)(d)). At open, :func:`reapply_rectifications` corrects such a
record again. Each ledger record holds, per changed field, a fingerprint of
the value replaced and the new value, sealed under the **subject's own data
key** (AES-256-GCM, bound to the subject's id) and padded to a multiple of
512 bytes:

* whoever holds the ledger file alone learns which pseudonymous subject ids
  were corrected and how often, not which fields, what to, or how long the
  values are;
* erasing the subject destroys its KEK, so its corrections no longer open
  anywhere, as the rest of its data (and the fingerprints of old values,
  which could confirm a guessed birth date, are inside the seal, not beside it);
* only a value the ledger records as replaced is replaced (by the newest it
  holds for that field), as with passwords: a value set through another copy
  of the key directory, which this ledger does not know, is left alone, and a
  database that is not behind changes nothing.

A correction whose commit then fails is applied at the next open: the ledger
errs on the side of the value the data-protection officer asked for.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from facewarden.errors import ConflictError, FacewardenError
from facewarden.privacy.crypto import WrappedKey
from facewarden.privacy.revocations import APPLIED, Revocation
from facewarden.service.compaction import note_compaction_due
from facewarden.service.compreface_names import realias
from facewarden.service.context import Context
from facewarden.service.records import (
    FIELD_NAMES,
    SubjectRecord,
    id_index,
    open_record,
    seal_changes,
)
from facewarden.service.subjects import subject_row
from facewarden.store.base import Transaction

__all__ = ["Correction", "correct", "reapply_rectifications"]

logger = logging.getLogger(__name__)

_TABLE = "revocations"
_FIELD = "rectification"
_PAD = 512


@dataclass(frozen=True)
class Correction:
    """What :func:`correct` changed: the record as it is now, and the fields that differ."""

    record: SubjectRecord
    fields: tuple[str, ...]


def correct(
    ctx: Context,
    tx: Transaction,
    subject_id: str,
    changes: dict[str, str | None],
    *,
    record: bool = True,
) -> Correction:
    """Change record fields of a subject in ``tx`` (None or "" clears an optional one).

    Args:
        ctx: the deployment.
        tx: the transaction (the caller audits the change in it).
        subject_id: whose record.
        changes: field name to new value.
        record: append the correction to the revocation ledger; False when
            re-applying one the ledger holds.

    Raises:
        NotFoundError: no such subject.
        ConflictError: the new ID number belongs to another subject, or the new
            name to another subject of the CompreFace API (nothing is written).
        InvalidInputError: an unknown field or an invalid value.
    """
    row, key = subject_row(tx, subject_id)
    old = open_record(ctx.envelope, key, subject_id, row.fields)
    new = old.updated(changes)
    sealed = seal_changes(ctx.envelope, key, subject_id, old, new)
    token = id_index(ctx.envelope, new.id_number)
    holder = tx.subject_id_by_index(token) if token is not None else None
    if holder is not None and holder != subject_id:
        raise ConflictError("another subject is already enrolled with this ID number")
    # The old values (the old number's token) lie in old row versions, which the
    # subject's live key still opens, until compacted.
    due = ["subject_fields"] if sealed else []
    if row.id_index is not None and row.id_index != token:
        due.append("subjects")
    # A CompreFace subject is addressed by its name: the corrected one from now on.
    if "full_name" in sealed and realias(ctx, tx, subject_id, new.full_name):
        due.append("subject_aliases")
    if due:
        note_compaction_due(tx, due)
    tx.update_subject(
        subject_id,
        updated_at=ctx.clock(),
        fields=sealed,
        id_index=token,
        clear_id_index=token is None,
    )
    if record and sealed:
        # Before the commit: a restore of an older backup corrects the record again.
        body = {
            name: [_fingerprint(subject_id, name, getattr(old, name)), getattr(new, name)]
            for name in sealed
        }
        ledger = ctx.keyring.revocations
        tx.set_meta(
            APPLIED, str(ledger.rectify_subject(subject_id, _seal(ctx, key, subject_id, body)))
        )
    return Correction(new, tuple(sorted(sealed)))


def reapply_rectifications(
    ctx: Context, tx: Transaction, records: list[Revocation]
) -> dict[str, tuple[str, ...]]:
    """Correct again the records the ledger holds corrections of that this database lacks.

    Returns the subjects corrected now and their fields (each audited
    ``subject.update`` by the caller). A subject not here (erased: its
    corrections no longer open; or enrolled after the backup) is skipped, and
    so is one whose correction now clashes with another subject's ID number
    or CompreFace name (logged: settle it by hand).
    """
    sealed_of: dict[str, list[bytes]] = {}
    for r in records:
        if r.kind == "rectify" and r.sealed is not None:
            sealed_of.setdefault(r.target, []).append(r.sealed)
    corrected: dict[str, tuple[str, ...]] = {}
    for subject_id, sealed in sealed_of.items():
        row = tx.get_subject(subject_id)
        if row is None:
            continue
        key = WrappedKey.from_bytes(row.wrapped_key)
        retired: dict[str, set[str | None]] = {}
        newest: dict[str, str | None] = {}
        for body in (_open(ctx, key, subject_id, s) for s in sealed):
            for name, (replaced, value) in body.items():
                if name not in FIELD_NAMES:
                    continue
                retired.setdefault(name, set()).add(replaced)
                newest[name] = value
        current = open_record(ctx.envelope, key, subject_id, row.fields)
        changes = {
            name: value
            for name, value in newest.items()
            if getattr(current, name) != value
            and _fingerprint(subject_id, name, getattr(current, name)) in retired[name]
        }
        if not changes:
            continue
        try:
            done = correct(ctx, tx, subject_id, changes, record=False)
        except FacewardenError as exc:
            logger.warning(
                "a correction of subject %s the ledger holds was not re-applied: %s",
                subject_id,
                exc,
            )
            continue
        corrected[subject_id] = done.fields
    return corrected


def _fingerprint(subject_id: str, name: str, value: str | None) -> str:
    # Tells a replaced value from others, inside the seal only.
    text = "\0".join((subject_id, name, "-" if value is None else "+" + value))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _seal(
    ctx: Context, key: WrappedKey, subject_id: str, body: dict[str, list[str | None]]
) -> bytes:
    raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
    padded = raw + b" " * (-len(raw) % _PAD)
    return ctx.envelope.encrypt(padded, data_key=key, table=_TABLE, row=subject_id, field=_FIELD)


def _open(
    ctx: Context, key: WrappedKey, subject_id: str, sealed: bytes
) -> dict[str, list[str | None]]:
    # A record the ledger authenticated that the subject's key does not open
    # means the database's row is not the subject's: IntegrityError, not served.
    raw = ctx.envelope.decrypt(sealed, data_key=key, table=_TABLE, row=subject_id, field=_FIELD)
    body: dict[str, list[str | None]] = json.loads(raw)
    return body
