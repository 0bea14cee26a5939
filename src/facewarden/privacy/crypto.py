"""Envelope encryption of personal fields (AES-256-GCM), and the blind index.

Two layers of keys, so that rotating the master key never touches the data:

* a **data key** (32 random bytes) encrypts the fields of, typically, one
  subject; it is stored next to the data only *wrapped*: AES-GCM-encrypted
  under a master key, with associated data ``b"facewarden/dek/" + master id``;
* a **master key** lives in the key directory (:class:`~facewarden.privacy.keys.KeyRing`)
  and never in the database. Rotation adds a master key, :meth:`Envelope.rewrap`
  re-wraps each data key (a few dozen bytes each), and the old master key is
  then destroyed.

A subject's data key has one more layer, so that erasing the subject is
final in every copy of the database: it is wrapped by the subject's own
key-encryption key (KEK, id ``sk-<subject id>``, see
:meth:`Envelope.new_subject_data_key`), which lives in the key directory
encrypted under the master key. Erasure destroys the KEK; master-key
rotation re-encrypts the KEKs and leaves the subject's wrapped data key as
it is. The wrapped-key format is the same for both: the "master key id"
field names whichever key wraps it.

Field ciphertexts bind their place in the store: the associated data names
table, row id and field, so a ciphertext copied to another row or field (say,
one subject's ID number pasted onto another subject) fails to decrypt.

Formats (version byte first, so a future format can be told apart)::

    wrapped key:  0x01 | len(id) | master key id (ascii) | nonce (12) | AES-GCM(data key) (48)
    field:        0x01 | nonce (12) | AES-GCM(plaintext) (len + 16)

Nonces are random. With one data key per subject a key encrypts a handful of
fields, far below the 2**32 messages at which random 96-bit nonces start to
risk a collision.

Nothing in this module logs, and no object's ``repr`` shows key bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facewarden.errors import IntegrityError
from facewarden.privacy._subjectkeys import KEK_PREFIX
from facewarden.privacy.keys import KEY_BYTES, KeyRing

__all__ = [
    "FORMAT_VERSION",
    "ID_NORMALISATION",
    "Envelope",
    "WrappedKey",
    "is_subject_wrapped",
    "normalise_id_number",
]

FORMAT_VERSION = 1
_NONCE = 12
_TAG = 16
_DEK_AAD_PREFIX = b"facewarden/dek/"
_FIELD_AAD_PREFIX = b"facewarden/field/v1"
_KIND_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
ID_NORMALISATION = "2"
"""Version of :func:`normalise_id_number`; stored tokens made under another are recomputed."""


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted under a master key; safe to store next to the data.

    Attributes:
        master_key_id: id of the master key that wraps it (``mk-<8 hex>``).
        nonce: the 12-byte AES-GCM nonce of the wrapping.
        ciphertext: the wrapped 32-byte key plus its 16-byte tag.
    """

    master_key_id: str
    nonce: bytes
    ciphertext: bytes

    def __post_init__(self) -> None:
        kid = self.master_key_id
        if not (0 < len(kid) <= 64 and kid.isascii() and kid.isprintable()):
            raise ValueError(f"invalid master key id {kid!r}")
        if len(self.nonce) != _NONCE or len(self.ciphertext) != KEY_BYTES + _TAG:
            raise ValueError(
                f"a wrapped key has a {_NONCE}-byte nonce and {KEY_BYTES + _TAG} bytes of "
                f"ciphertext, got {len(self.nonce)} and {len(self.ciphertext)}"
            )

    def to_bytes(self) -> bytes:
        """Serialise as ``version | len(id) | id | nonce | ciphertext``."""
        kid = self.master_key_id.encode("ascii")
        return bytes([FORMAT_VERSION, len(kid)]) + kid + self.nonce + self.ciphertext

    @classmethod
    def from_bytes(cls, data: bytes) -> WrappedKey:
        """Parse what :meth:`to_bytes` wrote.

        Raises:
            IntegrityError: the bytes are truncated, padded or of an unknown version.
        """
        if len(data) < 2 or data[0] != FORMAT_VERSION:
            version = data[0] if data else None
            raise IntegrityError(f"wrapped data key has unknown format (version byte {version})")
        end = 2 + data[1]
        try:
            return cls(
                master_key_id=data[2:end].decode("ascii"),
                nonce=data[end : end + _NONCE],
                ciphertext=data[end + _NONCE :],
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise IntegrityError(f"wrapped data key is malformed: {exc}") from None


class Envelope:
    """Encrypts and decrypts personal fields with data keys wrapped by a :class:`KeyRing`.

    Thread-safe. Unwrapped data keys are kept in a small LRU cache so that
    reading a subject's several fields unwraps its key once; the master key is
    still looked up on every call, so destroying it takes effect at once.

    Args:
        keyring: the deployment's keys; its active master key wraps new data keys.
        cache_size: how many unwrapped data keys to keep in memory.
    """

    def __init__(self, keyring: KeyRing, *, cache_size: int = 1024) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, got {cache_size}")
        self._keyring = keyring
        self._cache_size = cache_size
        self._cache: OrderedDict[WrappedKey, AESGCM] = OrderedDict()
        self._lock = threading.Lock()

    def new_data_key(self) -> WrappedKey:
        """Generate a random data key and return it wrapped with the active master key."""
        return self._wrap(AESGCM.generate_key(bit_length=8 * KEY_BYTES))

    def new_subject_data_key(self, subject_id: str) -> WrappedKey:
        """A random data key for one subject, wrapped by a new KEK of that subject.

        The KEK is written to the key directory (fsynced) before this returns,
        so the database may then commit data encrypted under the data key.

        Raises:
            KeyMaterialError: the subject already has a KEK.
        """
        [kek] = self._keyring.new_subject_keys([subject_id])
        return self._wrap(AESGCM.generate_key(bit_length=8 * KEY_BYTES), kek)

    def wrap_for_subject(self, wrapped: WrappedKey, kek: str) -> WrappedKey:
        """Re-wrap a master-wrapped data key under a subject's existing KEK (migration).

        The data key, and every ciphertext made with it, is unchanged.
        """
        return self._wrap(self._unwrap_raw(wrapped), kek)

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        """Re-wrap a data key with the active master key (master-key rotation).

        The data key itself, and so every ciphertext made with it, is unchanged.
        A key already wrapped by the active master key is returned as it is,
        and so is one wrapped by a subject's KEK (rotation re-encrypts the KEKs).

        Raises:
            KeyMaterialError: its master key is no longer in the key ring.
            IntegrityError: the wrapped key fails authentication.
        """
        if wrapped.master_key_id == self._keyring.active_master_id or is_subject_wrapped(wrapped):
            return wrapped
        return self._wrap(self._unwrap_raw(wrapped))

    def encrypt(
        self, plaintext: bytes, *, data_key: WrappedKey, table: str, row: str, field: str
    ) -> bytes:
        """Encrypt one field value, bound to its table, row id and field name.

        Returns:
            ``version byte | 12-byte random nonce | ciphertext and tag``.

        Raises:
            KeyMaterialError: the data key's master key is not in the key ring.
        """
        aad = _field_aad(table, row, field)
        nonce = os.urandom(_NONCE)
        sealed = self._aead(data_key).encrypt(nonce, plaintext, aad)
        return bytes([FORMAT_VERSION]) + nonce + sealed

    def decrypt(
        self, ciphertext: bytes, *, data_key: WrappedKey, table: str, row: str, field: str
    ) -> bytes:
        """Decrypt what :meth:`encrypt` produced for the same table, row and field.

        Raises:
            IntegrityError: the ciphertext was altered, truncated, moved from
                another row or field, or made with another data key.
            KeyMaterialError: the data key's master key is not in the key ring.
        """
        where = f"{table}.{field} of row {row}"
        if len(ciphertext) < 1 + _NONCE + _TAG:
            raise IntegrityError(f"{where}: ciphertext is truncated ({len(ciphertext)} bytes)")
        if ciphertext[0] != FORMAT_VERSION:
            raise IntegrityError(f"{where}: unknown ciphertext format version {ciphertext[0]}")
        aad = _field_aad(table, row, field)
        aead = self._aead(data_key)
        try:
            return aead.decrypt(ciphertext[1 : 1 + _NONCE], ciphertext[1 + _NONCE :], aad)
        except InvalidTag:
            raise IntegrityError(
                f"{where}: ciphertext failed authentication (tampered, moved from another "
                "row or field, or encrypted with a different data key)"
            ) from None

    def encrypt_str(
        self, text: str, *, data_key: WrappedKey, table: str, row: str, field: str
    ) -> bytes:
        """:meth:`encrypt` for text, encoded as UTF-8."""
        return self.encrypt(
            text.encode("utf-8"), data_key=data_key, table=table, row=row, field=field
        )

    def decrypt_str(
        self, ciphertext: bytes, *, data_key: WrappedKey, table: str, row: str, field: str
    ) -> str:
        """:meth:`decrypt` for text written by :meth:`encrypt_str`."""
        raw = self.decrypt(ciphertext, data_key=data_key, table=table, row=row, field=field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise IntegrityError(f"{table}.{field} of row {row}: not UTF-8 text") from None

    def blind_index(self, value: str, *, kind: str) -> str:
        """A keyed, deterministic token for exact lookup of an identifier.

        ``HMAC-SHA256(blind-index key, kind + "\\x00" + normalise_id_number(value))``
        as 64 hex characters. Equal numbers written differently ("AB-123 456",
        "ab123456") give the same token; without the key the token reveals
        nothing and cannot be brute-forced offline, and two deployments give
        unrelated tokens for the same number.

        Args:
            value: the identifier, e.g. an ID-card or passport number.
            kind: what it is (``"id_number"``, ``"passport"``): the same number
                of two kinds gets two unrelated tokens.

        Raises:
            ValueError: ``kind`` is not lower-case ``[a-z0-9_.-]``, or nothing is
                left of ``value`` after normalisation.
        """
        if not _KIND_RE.match(kind):
            raise ValueError(f"blind-index kind must match {_KIND_RE.pattern}, got {kind!r}")
        normalised = normalise_id_number(value)
        if not normalised:
            raise ValueError(f"a {kind} value is empty after normalisation")
        message = kind.encode("ascii") + b"\x00" + normalised.encode("utf-8")
        return hmac.new(self._keyring.blind_index_key, message, hashlib.sha256).hexdigest()

    def _wrap(self, data_key: bytes, wrapping_id: str | None = None) -> WrappedKey:
        master_id = wrapping_id or self._keyring.active_master_id
        nonce = os.urandom(_NONCE)
        aad = _DEK_AAD_PREFIX + master_id.encode("ascii")
        sealed = AESGCM(self._keyring.master_key(master_id)).encrypt(nonce, data_key, aad)
        return WrappedKey(master_key_id=master_id, nonce=nonce, ciphertext=sealed)

    def _unwrap_raw(self, wrapped: WrappedKey) -> bytes:
        master = self._keyring.master_key(wrapped.master_key_id)
        aad = _DEK_AAD_PREFIX + wrapped.master_key_id.encode("ascii")
        try:
            return AESGCM(master).decrypt(wrapped.nonce, wrapped.ciphertext, aad)
        except InvalidTag:
            raise IntegrityError(
                f"data key wrapped with {wrapped.master_key_id} failed authentication: the "
                "wrapped key was altered, or that key file is not the key it was wrapped with"
            ) from None

    def _aead(self, wrapped: WrappedKey) -> AESGCM:
        # Checked before the cache on purpose: a destroyed master key must stop
        # working at once, even for data keys unwrapped a moment ago.
        self._keyring.master_key(wrapped.master_key_id)
        with self._lock:
            cached = self._cache.get(wrapped)
            if cached is not None:
                self._cache.move_to_end(wrapped)
                return cached
        aead = AESGCM(self._unwrap_raw(wrapped))
        with self._lock:
            self._cache[wrapped] = aead
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return aead


def is_subject_wrapped(wrapped: WrappedKey) -> bool:
    """Whether a data key is wrapped by a subject's KEK (rather than a master key)."""
    return wrapped.master_key_id.startswith(KEK_PREFIX)


def normalise_id_number(value: str) -> str:
    """Canonical form of an identity-document number, for the blind index.

    NFKC first (full-width letters and digits, superscripts and other
    compatibility forms become plain ones), then every decimal digit of any
    script (Arabic-Indic, Devanagari, ...) becomes its ASCII digit, then
    everything that is neither a letter nor a digit is dropped, wherever it
    stands: spaces of every kind, dashes and minus signs (``-``, U+2010 to
    U+2015, U+2212), underscores, dots, slashes, invisible format characters.
    Last, upper case. ``"ab-123 456"``, ``"AB.123/456_"``, ``AB`` U+2212
    ``123456`` and ``AB`` followed by Arabic-Indic ``123`` and ``456`` all
    become ``"AB123456"``. Letters and digits are kept
    as they are: ``O`` and ``0`` stay different, because documents do tell
    them apart.

    Changing this changes blind-index tokens: bump :data:`ID_NORMALISATION`
    so that stored tokens are recomputed when a deployment opens.
    """
    kept = []
    for ch in unicodedata.normalize("NFKC", value):
        if unicodedata.category(ch) == "Nd":
            kept.append(str(unicodedata.decimal(ch)))
        elif ch.isalnum():
            kept.append(ch)
    return "".join(kept).upper()


def _field_aad(table: str, row: str, field: str) -> bytes:
    # Length-prefixed so that ("ab", "c") and ("a", "bc") can never collide.
    parts = [_FIELD_AAD_PREFIX]
    for name, part in (("table", table), ("row", row), ("field", field)):
        if not part:
            raise ValueError(f"{name} must be a non-empty string")
        encoded = part.encode("utf-8")
        parts.append(len(encoded).to_bytes(4, "big") + encoded)
    return b"".join(parts)
