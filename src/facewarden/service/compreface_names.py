"""How a CompreFace subject name finds its subject again: a keyed token of the name (its alias).

The alias is a keyed HMAC of the name, keyed by the deployment's blind-index
key, so lookups by name need no plaintext name in the database. It is a
copy of the record's full name: wherever the name changes (a CompreFace
rename, a correction through the native registry under GDPR Art. 16),
:func:`realias` moves it, so the corrected name finds the person and the
old one no longer does.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from facewarden.errors import ConflictError
from facewarden.service.context import Context
from facewarden.service.names import JOINERS
from facewarden.store.base import AliasRow, Reader, Transaction

__all__ = ["KIND", "alias_token", "find_alias", "realias"]

KIND = "compreface"
"""The alias namespace of CompreFace subject names."""

# v1 tokens hashed the name as given (case counted); v2 folds case. Lookups
# try v2 first, then v1, so subjects stored before the change stay reachable.
_TOKEN_DOMAIN_V1 = b"facewarden/alias/compreface/v1\x00"
_TOKEN_DOMAIN = b"facewarden/alias/compreface/v2\x00"


_NO_JOINERS = str.maketrans("", "", JOINERS)


def _normal(name: str) -> str:
    return unicodedata.normalize("NFC", name.strip())


def _hmac(ctx: Context, domain: bytes, text: str) -> str:
    key = ctx.keyring.blind_index_key
    return hmac.new(key, domain + text.encode("utf-8"), hashlib.sha256).hexdigest()


def alias_token(ctx: Context, name: str) -> str:
    """The alias token of a subject name (outer spaces, case and zero-width joiners do not
    count: keyboards differ in whether they type the joiners a Persian name is written with,
    and a name with an invisible one must not be a second subject that looks the same)."""
    return _hmac(ctx, _TOKEN_DOMAIN, _normal(name).casefold().translate(_NO_JOINERS))


def find_alias(ctx: Context, reader: Reader, name: str) -> str | None:
    """The subject id of a CompreFace subject name, or None."""
    found = reader.subject_by_alias(KIND, alias_token(ctx, name))
    if found is None:
        found = reader.subject_by_alias(KIND, _hmac(ctx, _TOKEN_DOMAIN_V1, _normal(name)))
    return found


def realias(ctx: Context, tx: Transaction, subject_id: str, name: str) -> bool:
    """Move a CompreFace subject's alias to its new ``name``; False if it has none.

    The caller notes ``subject_aliases`` for compaction (the old token lies in
    dead row versions until then).

    Raises:
        ConflictError: another subject already answers to ``name`` (ignoring case).
    """
    if tx.alias_of(KIND, subject_id) is None:
        return False
    holder = find_alias(ctx, tx, name)
    if holder is not None and holder != subject_id:
        raise ConflictError(
            "another subject of the CompreFace API has this name (ignoring case); "
            "rename or merge it there first"
        )
    tx.delete_alias(KIND, subject_id)
    tx.insert_alias(AliasRow(KIND, alias_token(ctx, name), subject_id, ctx.clock()))
    return True
