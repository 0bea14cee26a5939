"""Binding a database to its key directory, and finishing interrupted template rotations.

A database records small *key checks* in its meta table when it is created:
a value encrypted under a data key wrapped by the master key, a blind-index
token and an audit-key MAC of fixed strings. At open they prove that the key
directory is the one the data was written with, so a wrong ``--key-dir``
fails at once with a clear message instead of as a decryption error later.

It also records the id of the template seed its templates are protected with.
Template rotation (:mod:`facewarden.privacy.keys`) stages a new seed,
re-protects every template in one transaction that records the new id, then
commits the seed; :func:`settle_template_key` finishes or undoes a rotation
that was interrupted between the two. It must run inside a write
transaction, so it waits for a rotation in progress in another process.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from facewarden.errors import FacewardenError, IntegrityError, KeyMaterialError
from facewarden.privacy.crypto import Envelope, WrappedKey
from facewarden.privacy.keys import KeyRing
from facewarden.privacy.template import TemplateProtector
from facewarden.store.base import Reader, Transaction

__all__ = [
    "TEMPLATE_KEY",
    "check_keys",
    "protector_for",
    "seal_key_check",
    "settle_template_key",
    "write_key_checks",
]

logger = logging.getLogger(__name__)

TEMPLATE_KEY = "template_key_id"
KEY_CHECK = "key_check"
_BLIND_CHECK = "blind_index_check"
_AUDIT_CHECK = "audit_key_check"
_PLAINTEXT = b"facewarden key check v1"
_WHERE = {"table": "meta", "row": KEY_CHECK, "field": "value"}


def seal_key_check(envelope: Envelope, data_key: WrappedKey | None = None) -> str:
    """The stored form of the master-key check (``<wrapped key hex>:<ciphertext hex>``)."""
    key = data_key or envelope.new_data_key()
    sealed = envelope.encrypt(_PLAINTEXT, data_key=key, **_WHERE)
    return f"{key.to_bytes().hex()}:{sealed.hex()}"


def key_check_key(value: str) -> WrappedKey:
    """The wrapped data key inside a stored key check (for re-wrapping on rotation)."""
    return WrappedKey.from_bytes(bytes.fromhex(value.partition(":")[0]))


def write_key_checks(tx: Transaction, keyring: KeyRing, envelope: Envelope) -> None:
    """Record the key checks and the template key id of a new database."""
    tx.set_meta(KEY_CHECK, seal_key_check(envelope))
    tx.set_meta(_BLIND_CHECK, envelope.blind_index("facewarden key check", kind="key_check"))
    tx.set_meta(_AUDIT_CHECK, _audit_check(keyring))
    tx.set_meta(TEMPLATE_KEY, keyring.template_key_id)


def check_keys(reader: Reader, keyring: KeyRing, envelope: Envelope, location: str) -> None:
    """Prove that ``keyring`` holds the keys the database at ``location`` was written with.

    Raises:
        KeyMaterialError: a check fails; the message names both places and the fix.
    """
    wrong = (
        f"the key directory {keyring.path} does not hold the keys database {location} "
        "was written with"
    )
    fix = (
        "point --key-dir (FACEWARDEN_KEY_DIR) at the key directory created with this "
        "database, or restore it from a backup"
    )
    value = reader.get_meta(KEY_CHECK)
    if value is None:
        raise IntegrityError(
            f"{location} has no key check; it was never initialised "
            "completely: restore it from a backup"
        )
    try:
        wrapped, _, sealed = value.partition(":")
        key = WrappedKey.from_bytes(bytes.fromhex(wrapped))
        plain = envelope.decrypt(bytes.fromhex(sealed), data_key=key, **_WHERE)
    except KeyMaterialError as exc:
        raise KeyMaterialError(f"{wrong} ({exc.message}); {fix}") from None
    except (FacewardenError, ValueError):
        raise KeyMaterialError(
            f"{wrong} (its master key does not decrypt the check); {fix}"
        ) from None
    blind = envelope.blind_index("facewarden key check", kind="key_check")
    if plain != _PLAINTEXT or reader.get_meta(_BLIND_CHECK) != blind:
        raise KeyMaterialError(f"{wrong} (the blind-index key differs); {fix}")
    if not hmac.compare_digest(reader.get_meta(_AUDIT_CHECK) or "", _audit_check(keyring)):
        raise KeyMaterialError(f"{wrong} (the audit key differs); {fix}")


def settle_template_key(tx: Transaction, keyring: KeyRing) -> None:
    """Commit or discard a template seed whose rotation was interrupted (see module notes).

    Raises:
        KeyMaterialError: the database's templates use a seed the key ring does not hold.
    """
    stored = tx.get_meta(TEMPLATE_KEY)
    if stored is None:
        return
    keyring.reload()
    staged = keyring.staged_template_key_id
    if stored == keyring.template_key_id:
        if staged is not None:
            logger.warning("discarding template seed %s: its rotation never committed", staged)
            keyring.discard_template_seed()
    elif stored == staged:
        logger.warning("completing the interrupted template rotation to %s", staged)
        keyring.commit_template_seed(staged)
    else:
        raise KeyMaterialError(
            f"the templates are protected with template key {stored}, which the key "
            f"directory {keyring.path} does not hold (it holds {keyring.template_key_id}); "
            "point --key-dir at the right key directory or restore it from a backup"
        )


def protector_for(keyring: KeyRing, stored: str, dim: int) -> TemplateProtector:
    """The transform matching the template key id the database records.

    Another process may have committed a rotation in the database but not yet
    in the key directory; then the staged seed is the right one.

    Raises:
        KeyMaterialError: neither the active nor the staged seed has that id.
    """
    keyring.reload()
    if stored == keyring.template_key_id:
        return TemplateProtector.from_keyring(keyring, dim)
    if stored == keyring.staged_template_key_id:
        return TemplateProtector.from_keyring(keyring, dim, staged=True)
    raise KeyMaterialError(f"template key {stored} is not in {keyring.path}")


def _audit_check(keyring: KeyRing) -> str:
    return hmac.new(keyring.audit_key, b"facewarden/key-check/v1", hashlib.sha256).hexdigest()
