"""Free text that people type (purposes, case references, reasons, notes), sealed at rest.

Whatever a person types may hold a name ("check on Jane Doe"), so it is
stored like a personal field: AES-256-GCM with a random nonce, the
associated data binding it to its table, row and field (a sealed purpose
copied onto another entry or another field fails to open). Stored as text,
``ft1:`` followed by unpadded URL-safe base64 of ``version | nonce | ciphertext``,
so it fits the text columns and the audit entry's canonical JSON.

The audit chain hashes the *sealed* value: ``audit verify`` needs no
decryption, any change to the ciphertext breaks the chain at that entry,
and the random nonce means equal purposes do not look equal.

The key is derived from the key directory's audit key
(HMAC-SHA256 over a fixed label, so it is separate from the chain's MACs),
and never stored. Honest limits: it is one deployment-wide key, not a key
per subject, so erasing a subject does not make text typed about them
unreadable; it is not rotated with the master key; values written before
sealing existed stay as they were (re-sealing them would break the chain)
and :meth:`FreeText.open` returns them unchanged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facewarden.errors import IntegrityError

__all__ = ["PREFIX", "SEALED_MAX", "FreeText", "is_sealed"]

PREFIX = "ft1:"
SEALED_MAX = 4096
"""The longest sealed text: a 500-character note of up to 4 UTF-8 bytes each, sealed, fits."""

_VERSION = 1
_NONCE = 12
_TAG = 16
_KEY_LABEL = b"facewarden/free-text-key/v1"
_AAD_PREFIX = b"facewarden/free-text/v1"


def is_sealed(value: str) -> bool:
    """Whether ``value`` is sealed text (as opposed to a legacy or empty value)."""
    return value.startswith(PREFIX)


class FreeText:
    """Seals and opens typed free text with a key derived from the audit key.

    Args:
        audit_key: the key directory's audit key (``KeyRing.audit_key``).
    """

    def __init__(self, audit_key: bytes) -> None:
        key = hmac.new(audit_key, _KEY_LABEL, hashlib.sha256).digest()
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "FreeText(key=<hidden>)"

    def seal(self, text: str, *, table: str, row: str, field: str) -> str:
        """Seal ``text`` for ``table``/``row``/``field``; the empty text stays empty.

        An empty value is left visible on purpose: "no purpose was given" is
        what an auditor must be able to see.
        """
        if not text:
            return ""
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, text.encode("utf-8"), _aad(table, row, field))
        raw = bytes([_VERSION]) + nonce + sealed
        return PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def open(self, value: str, *, table: str, row: str, field: str) -> str:
        """The text :meth:`seal` sealed for the same place; a legacy plain value as it is.

        Raises:
            IntegrityError: the sealed value was altered, truncated or moved
                from another row or field.
        """
        if not is_sealed(value):
            return value
        where = f"{table}.{field} of {row}"
        body = value[len(PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise IntegrityError(f"{where}: sealed text is not base64") from None
        if len(raw) < 1 + _NONCE + _TAG or raw[0] != _VERSION:
            raise IntegrityError(f"{where}: sealed text is truncated or of an unknown version")
        try:
            plain = self._aead.decrypt(
                raw[1 : 1 + _NONCE], raw[1 + _NONCE :], _aad(table, row, field)
            )
        except InvalidTag:
            raise IntegrityError(
                f"{where}: sealed text failed authentication (altered, or moved from "
                "another row or field)"
            ) from None
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:
            raise IntegrityError(f"{where}: sealed text is not UTF-8") from None


def _aad(table: str, row: str, field: str) -> bytes:
    # Length-prefixed so that ("ab", "c") and ("a", "bc") can never collide.
    parts = [_AAD_PREFIX]
    for part in (table, row, field):
        encoded = part.encode("utf-8")
        parts.append(len(encoded).to_bytes(4, "big") + encoded)
    return b"".join(parts)
