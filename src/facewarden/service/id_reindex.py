"""Blind-index tokens recomputed when the ID-number normalisation changes.

A token is ``HMAC(key, normalise_id_number(number))``; when the normalisation
learns to treat more spellings as one (U+2212 minus, Arabic-Indic digits, an
underscore), tokens stored under the old rule no longer match the new one,
and a second enrollment of the same document would slip past the uniqueness
check. At open, a deployment whose stored version differs from
:data:`~facewarden.privacy.crypto.ID_NORMALISATION` decrypts each subject's
ID number and stores its new token, in one transaction.

The same recomputation fills in the tokens a backup archive leaves out (see
:mod:`facewarden.service.backup`): a token is an HMAC of a guessable number,
so an archive that kept it would name an erased person to whoever holds the
archive and the key directory. The restored database carries the meta flag
:data:`TOKENS_LEFT_OUT`; once the erasures made since the backup are
re-applied, :func:`rebuild_id_tokens` derives each remaining subject's token
from its ID number, which only the subject's data key (destroyed by erasure)
opens.
"""

from __future__ import annotations

import logging

from facewarden.privacy.crypto import ID_NORMALISATION, Envelope, WrappedKey
from facewarden.service.records import TABLE, id_index
from facewarden.store.base import Store, Transaction

__all__ = ["TOKENS_LEFT_OUT", "rebuild_id_tokens", "reindex_id_numbers"]

logger = logging.getLogger(__name__)

META_KEY = "id_normalisation"
TOKENS_LEFT_OUT = "id_index_left_out"
"""Meta key: ``"1"`` in a database restored from an archive without ID-number tokens."""
_PAGE = 500


def reindex_id_numbers(store: Store, envelope: Envelope) -> int:
    """Bring every stored ID-number token to the current normalisation.

    Returns how many tokens changed. Two subjects whose numbers are now
    equal (the same document enrolled twice under two spellings) cannot
    both hold the token: the first keeps it, the other keeps its old one
    and is named in a warning for an operator to resolve.
    """
    if store.get_meta(META_KEY) == ID_NORMALISATION:
        return 0
    with store.transaction() as tx:
        if tx.get_meta(META_KEY) == ID_NORMALISATION:  # another process did it meanwhile
            return 0
        changed = _reindex(tx, envelope)
        tx.set_meta(META_KEY, ID_NORMALISATION)
    if changed:
        logger.info("recomputed %d ID-number blind-index token(s)", changed)
    return changed


def rebuild_id_tokens(store: Store, envelope: Envelope) -> int:
    """Give every subject of a database restored without tokens its ID number's token.

    Run after the erasure ledger is applied (an erased subject's ID number no
    longer opens): cheap (one meta read) unless :data:`TOKENS_LEFT_OUT` is
    set, and done in one transaction that clears it, so a crash part way
    leaves it to the next open. Returns how many tokens were written.
    """
    if store.get_meta(TOKENS_LEFT_OUT) != "1":
        return 0
    with store.transaction() as tx:
        if tx.get_meta(TOKENS_LEFT_OUT) != "1":  # another process did it meanwhile
            return 0
        rebuilt = _reindex(tx, envelope, missing=True)
        tx.set_meta(TOKENS_LEFT_OUT, "0")
    logger.info("rebuilt %d ID-number blind-index token(s) left out of the archive", rebuilt)
    return rebuilt


def _reindex(tx: Transaction, envelope: Envelope, *, missing: bool = False) -> int:
    """Recompute stored tokens (``missing``: write the tokens of subjects that hold none)."""
    changed = 0
    after: str | None = None
    while page := tx.list_subjects(after=after, limit=_PAGE):
        after = page[-1].subject_id
        for row in page:
            sealed = row.fields.get("id_number")
            if sealed is None or (row.id_index is None) != missing:
                continue
            number = envelope.decrypt_str(
                sealed,
                data_key=WrappedKey.from_bytes(row.wrapped_key),
                table=TABLE,
                row=row.subject_id,
                field="id_number",
            )
            token = id_index(envelope, number)
            if token is None or token == row.id_index:
                continue
            holder = tx.subject_id_by_index(token)
            if holder is not None:
                logger.warning(
                    "subjects %s and %s hold the same ID number written differently; "
                    "%s keeps its old index entry until one of them is corrected or erased",
                    holder,
                    row.subject_id,
                    row.subject_id,
                )
                continue
            tx.update_subject(row.subject_id, updated_at=row.updated_at, id_index=token)
            changed += 1
    return changed
