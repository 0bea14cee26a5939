"""What a purge rewrites so that deleted rows leave the store's files, even across a crash.

A purge deletes rows in one transaction and then compacts the store
(:meth:`~facewarden.store.base.Store.compact`: SQLite checkpoints its WAL,
PostgreSQL rewrites the tables and ends its WAL segment). Until that
compaction, the deleted rows are still in the files: SQLite's main file
keeps the old pages until a checkpoint, PostgreSQL's tables and WAL keep the
old row versions. So what is due is recorded in the meta table
(``compaction_due``) in the same transaction as the deletions, and cleared
only once compacted: a purge killed in between leaves it to the next purge,
even one that deletes nothing itself. Other changes whose old row versions
someone could still read with the key directory note what they leave due
the same way: a corrected record (its old values under the subject's live
key, an old ID number's blind-index token, a CompreFace subject's old name),
a removed or replaced face (its template and photo), a removed camera (its
sightings, who was where, and its sealed place).

Erasures are counted apart, by the erasure ledger: every erasure recorded in
it since the last compaction of the subjects' tables (``erasures_compacted``,
the ledger's length then) has the next purge rewrite every table a subject's
deletion reaches, whichever process erased and whether or not it crashed.
What is left of an erased subject there is unreadable (its KEK is gone) but
not all ciphertext: the ID number's blind-index token, memberships,
sightings (who was where, when).
"""

from __future__ import annotations

from facewarden.service.context import Context
from facewarden.store.base import Transaction

__all__ = ["COMPACTION_DUE", "ERASURES_COMPACTED", "compact_due", "note_compaction_due"]

COMPACTION_DUE = "compaction_due"
"""Meta key: the tables to compact (comma-separated; ``*`` every table; empty none)."""
ERASURES_COMPACTED = "erasures_compacted"
"""Meta key: the erasure ledger's length when the erased subjects' tables were last compacted."""

_EVERY = "*"
_SUBJECTS = "subjects"  # with every table a subject's deletion cascades into

Tables = frozenset[str] | None
"""Table names; None for every table."""


def _decode(value: str | None) -> Tables:
    if value == _EVERY:
        return None
    return frozenset(t for t in (value or "").split(",") if t)


def _encode(tables: Tables) -> str:
    return _EVERY if tables is None else ",".join(sorted(tables))


def _union(a: Tables, b: Tables) -> Tables:
    return None if a is None or b is None else a | b


def note_compaction_due(tx: Transaction, tables: list[str] | None) -> str:
    """Record, in the deleting transaction, that ``tables`` (None: every table) need compacting.

    Returns what is now due, as recorded (for :func:`compact_due`).
    """
    due = _encode(_union(_decode(tx.get_meta(COMPACTION_DUE)), _as_tables(tables)))
    if due:
        tx.set_meta(COMPACTION_DUE, due)
    return due


def compact_due(ctx: Context, recorded: str) -> None:
    """Compact what ``recorded`` (from :func:`note_compaction_due`) and the ledger say, then
    clear what was done.

    Cleared only if no one recorded more meanwhile (else it stays due, and
    the next purge compacts it again: harmless).
    """
    tables = _decode(recorded)
    erased_through = _erasures_to_compact(ctx)
    if erased_through is not None:
        tables = _union(tables, frozenset({_SUBJECTS}))
    if tables is not None and not tables:
        return
    ctx.store.compact(None if tables is None else sorted(tables))
    with ctx.store.transaction() as tx:
        if recorded and tx.get_meta(COMPACTION_DUE) == recorded:
            tx.set_meta(COMPACTION_DUE, "")
        if erased_through is not None:
            tx.set_meta(ERASURES_COMPACTED, str(erased_through))


def _as_tables(tables: list[str] | None) -> Tables:
    return None if tables is None else frozenset(tables)


def _erasures_to_compact(ctx: Context) -> int | None:
    """The erasure ledger's length, when subjects were erased since the last compaction."""
    end = ctx.keyring.erasure_ledger_end
    try:
        done = int(ctx.store.get_meta(ERASURES_COMPACTED) or 0)
    except ValueError:
        done = -1
    return None if done == end else end
