"""Erasure that holds in every copy: completing it, re-applying it to a restored backup, and
moving subjects stored before per-subject keys onto them.

Erasing a subject (:meth:`~facewarden.service.registry.Registry.erase`)
deletes its rows, appends its pseudonymous id to the erasure ledger in the
key directory *before* the transaction commits, and destroys its
key-encryption key (KEK) *after*; a retention purge records all the subjects
it erases as one ledger record, its transaction's last write, so they are
erased all or none. The database records in its meta table
how far into the ledger it has applied erasures (``erasure_ledger_applied``,
a byte offset written in each erasing transaction). So, at every open and
every purge, :func:`reapply_erasures`:

1. destroys the KEK of every subject in the ledger whose KEK is still there
   (a crash between the commit and the destruction);
2. erases, with a tombstone, every subject the ledger names from the
   database's offset on that the database still holds: a crash between the
   ledger line and the commit, or a database **restored from a backup**
   taken before those erasures (its offset is older). Their KEKs are gone
   already, so what the backup holds of them was unreadable anyway; now it
   is deleted too, and everyone else in the backup reads as before.

Whoever restores a database (the ``restore`` command) gets this by opening it
with :meth:`Warden.open <facewarden.service.warden.Warden.open>`, or can call
:meth:`Warden.reapply_erasures <facewarden.service.warden.Warden.reapply_erasures>`
explicitly. Invariant after any crash: a destroyed KEK's subject is deleted
or unreadable, and is deleted by the next open or purge.

Deployments from before per-subject KEKs keep subjects whose data key is
wrapped by the master key; :func:`migrate_subject_keys` gives each one a KEK
and re-wraps its data key under it (the data and its ciphertexts stay as
they are), once, at open. Backups taken *before* that migration still hold
master-wrapped data keys: only a master-key rotation that destroys the old
master key makes erasure final in those (and them unreadable for everyone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from facewarden.privacy.crypto import WrappedKey, is_subject_wrapped
from facewarden.service.context import Context
from facewarden.store.base import Transaction

__all__ = [
    "LEDGER_APPLIED",
    "SUBJECT_KEYS",
    "ErasureReport",
    "migrate_subject_keys",
    "reapply_erasures",
]

logger = logging.getLogger(__name__)

LEDGER_APPLIED = "erasure_ledger_applied"
"""Meta key: the erasure ledger's byte offset up to which this database has applied erasures."""
SUBJECT_KEYS = "subject_keys"
"""Meta key: ``"1"`` once every subject's data key is wrapped by the subject's own KEK."""
# Each batch's KEKs land in (at most) every bucket once: large batches keep the
# number of bucket rewrites low (2.5M subjects: 50 batches, about 200,000 rewrites).
_MIGRATION_BATCH = 50_000

EraseRows = Callable[[Transaction, str], None]
"""Deletes one subject's rows with a tombstone, without appending to the ledger."""


@dataclass(frozen=True)
class ErasureReport:
    """What :func:`reapply_erasures` did.

    Attributes:
        keys_destroyed: KEKs of erased subjects destroyed now (an interrupted erasure).
        subjects_erased: subjects the ledger names that the database still held.
    """

    keys_destroyed: int
    subjects_erased: int


def reapply_erasures(ctx: Context, erase_rows: EraseRows) -> ErasureReport:
    """Complete interrupted erasures and apply the ledger's erasures the database lacks.

    Cheap when there is nothing to do (two file sizes and one meta read).
    See the module notes for when it matters.
    """
    keyring = ctx.keyring
    destroyed = keyring.destroy_erased_keys()
    if destroyed:
        logger.warning("destroyed %d key(s) of erased subjects left by an interruption", destroyed)
    applied = _offset(ctx.store.get_meta(LEDGER_APPLIED))
    if applied == keyring.erasure_ledger_end:
        return ErasureReport(destroyed, 0)
    erased = 0
    with ctx.writing(gallery_changes=True) as tx:
        applied = _offset(tx.get_meta(LEDGER_APPLIED))  # again, under the write lock
        ids, end = keyring.erasures_since(applied)
        for subject_id in dict.fromkeys(ids):
            if tx.get_subject(subject_id) is not None:
                erase_rows(tx, subject_id)
                erased += 1
        tx.set_meta(LEDGER_APPLIED, str(end))
    if erased:
        logger.warning(
            "erased %d subject(s) that the erasure ledger records as erased (an interrupted "
            "erasure, or a database restored from a backup taken before them)",
            erased,
        )
    return ErasureReport(destroyed, erased)


def migrate_subject_keys(ctx: Context) -> int:
    """Give every subject still wrapped by the master key a KEK of its own; returns how many.

    Once per database (recorded in its meta table), at open, in batches:
    each batch's KEKs are written to the key directory before the
    transaction that re-wraps those data keys commits, so a crash leaves
    every subject readable (wrapped either way) and the next open goes on.
    """
    if ctx.store.get_meta(SUBJECT_KEYS) == "1":
        return 0
    moved, after = 0, None
    while True:
        with ctx.store.transaction() as tx:
            if tx.get_meta(SUBJECT_KEYS) == "1":
                return moved  # another process finished it
            page = tx.list_subjects(after=after, limit=_MIGRATION_BATCH)
            legacy = [
                (row.subject_id, WrappedKey.from_bytes(row.wrapped_key))
                for row in page
                if not is_subject_wrapped(WrappedKey.from_bytes(row.wrapped_key))
            ]
            # A KEK may exist from a batch that crashed before its commit: reuse it.
            keyring = ctx.keyring
            keyring.new_subject_keys([s for s, _ in legacy if not keyring.has_subject_key(s)])
            for subject_id, wrapped in legacy:
                kek = keyring.subject_key_id(subject_id)
                tx.set_wrapped_key(
                    subject_id, ctx.envelope.wrap_for_subject(wrapped, kek).to_bytes()
                )
            moved += len(legacy)
            if len(page) < _MIGRATION_BATCH:
                tx.set_meta(SUBJECT_KEYS, "1")
                break
            after = page[-1].subject_id
    if moved:
        logger.warning(
            "gave %d subject(s) a key-encryption key of their own, so that erasing them is "
            "final in every copy; backups taken before keep master-wrapped keys (see "
            "`facewarden keys rotate`)",
            moved,
        )
    return moved


def _offset(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0
