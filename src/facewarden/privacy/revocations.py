"""The revocation ledger: access withdrawn, kept outside the database so a restore cannot undo it.

A backup holds the access tables as they were when it was taken: API keys
revoked since are live in it, users disabled since are enabled, and a
password changed since still has its old hash. Each such change is therefore
also appended here, in the key directory (which is backed up apart from the
database, and restored beside it), at the moment it is made; opening a
database re-applies what it lacks (:mod:`facewarden.service.revocation`).

Layout: ``revocations.log`` in the key directory (mode 0600), one record a
line, appended with ``O_APPEND`` and fsynced under the directory's lock::

    key <key id> - <mac>                          an API key revoked
    user <account> - <mac>                        a user disabled
    password <account> <retired>.<sealed> <mac>   a password changed: a keyed fingerprint
                                                  of the hash it replaced, and the new
                                                  hash, sealed
    restrict <subject id> - <mac>                 a subject's processing restricted (GDPR
                                                  Art. 18: off every watchlist)
    lift <subject id> - <mac>                     that restriction lifted
    leave <subject id> <watchlist id> <mac>       a subject taken off a watchlist
    join <subject id> <watchlist id> <mac>        a subject put on a watchlist (again)
    drop <watchlist id> - <mac>                   a watchlist deleted, with its members
    face <face id> - <mac>                        a face removed from a subject (a wrong one:
                                                  a bystander's photo; or replaced)
    rectify <subject id> <sealed> <mac>           a subject's record corrected (GDPR Art. 16):
                                                  what changed, sealed by the caller under
                                                  the subject's own data key

* **No personal data in clear.** An API key's id is the random public half
  of the key; a subject's id, a face's and a watchlist's is random and
  opaque (the erasure ledger keeps subjects' too). A correction's values
  are sealed under the subject's own data key
  (:mod:`facewarden.service.rectification`), which erasing the subject
  destroys with its KEK, and padded, so the ledger tells neither what
  changed nor how long the new value is. An account is named by a keyed
  pseudonym (HMAC of the username), which only this key directory can
  compute; the new password's argon2id hash is sealed (AES-256-GCM, the
  account bound as associated data) and the replaced one is only a keyed
  fingerprint, so the ledger is no offline-guessing target.
* **Integrity.** Each line ends with an HMAC-SHA256 over the previous line's
  MAC and its own body, so a line altered, forged, removed from the middle
  or moved is detected when the ledger is read
  (:class:`~facewarden.errors.IntegrityError`, and the deployment does not
  open). A line torn by a crash (no final newline) is cut off by the next
  append and never read.

The keys are derived from the audit key, which is never rotated (rotating
master keys leaves the ledger readable).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facewarden.errors import IntegrityError
from facewarden.privacy._keydir import append_line, check_private, locked

__all__ = ["APPLIED", "REVOCATIONS", "Revocation", "RevocationLedger"]

REVOCATIONS = "revocations.log"
APPLIED = "revocation_ledger_applied"
"""Meta key: the ledger's byte offset up to which a database has applied it."""
Kind = Literal[
    "key", "user", "password", "restrict", "lift", "leave", "join", "drop", "face", "rectify"
]
_DOMAIN = b"facewarden/revocations/v1/"
_NONCE = 12
_KEY_ID_RE = re.compile(r"^[0-9a-f]{16}$")
# As the erasure ledger (privacy/_subjectkeys.py) takes them: any id a subject's KEK can have.
_SUBJECT_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,60}$")
_LINE_RE = re.compile(
    r"^(?P<body>(?P<kind>key|user|password|restrict|lift|leave|join|drop|face|rectify) "
    r"(?P<target>[0-9a-f]{16,64}|[A-Za-z0-9_.:-]{1,60})"
    r" (?P<value>[A-Za-z0-9_.=-]+)) (?P<mac>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class Revocation:
    """One record of the ledger.

    Attributes:
        kind: ``key`` (an API key revoked), ``user`` (a user disabled),
            ``password`` (a password changed), ``restrict`` (a subject's
            processing restricted), ``lift`` (that restriction lifted), ``leave``
            and ``join`` (a subject taken off or put on a watchlist), ``drop`` (a
            watchlist deleted), ``face`` (a face removed) or ``rectify`` (a
            subject's record corrected).
        target: the key id, the account's pseudonym (see :meth:`RevocationLedger.account`),
            the subject's id, the watchlist's (``drop``), or the face's.
        watchlist: for ``leave`` and ``join``, the watchlist's id; else None.
        password_hash: for ``password``, the new hash (unsealed); else None.
        retired: for ``password``, the fingerprint of the hash it replaced
            (see :meth:`RevocationLedger.fingerprint`); else None.
        end: the ledger offset just past this record.
        sealed: for ``rectify``, the correction as the caller sealed it; else None.
    """

    kind: Kind
    target: str
    password_hash: str | None
    retired: str | None
    end: int
    sealed: bytes | None = None
    watchlist: str | None = None


class RevocationLedger:
    """The revocation ledger of one key directory.

    Args:
        directory: the key directory.
        audit_key: the deployment's audit key, from which the ledger's keys are derived.
    """

    def __init__(self, directory: Path, audit_key: bytes) -> None:
        self._dir = directory
        self._path = directory / REVOCATIONS
        self._mac_key = _derive(audit_key, b"mac")
        self._name_key = _derive(audit_key, b"account")
        self._hash_key = _derive(audit_key, b"password-hash")
        self._seal = AESGCM(_derive(audit_key, b"seal"))

    def __repr__(self) -> str:
        return f"RevocationLedger({str(self._path)!r})"

    def account(self, username: str) -> str:
        """The pseudonym a username has in the ledger (32 hex)."""
        return hmac.new(self._name_key, username.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def fingerprint(self, account: str, password_hash: str) -> str:
        """A keyed fingerprint of an account's password hash (32 hex): tells hashes apart only."""
        body = f"{account}\n{password_hash}".encode()
        return hmac.new(self._hash_key, body, hashlib.sha256).hexdigest()[:32]

    # Writing --------------------------------------------------------------

    def revoke_key(self, key_id: str) -> int:
        """Record an API key revoked; returns the ledger's new end."""
        if not _KEY_ID_RE.match(key_id):
            raise ValueError(f"invalid API key id {key_id!r}")
        return self._append("key", key_id, "-")

    def disable_user(self, username: str) -> int:
        """Record a user disabled; returns the ledger's new end."""
        return self._append("user", self.account(username), "-")

    def change_password(self, username: str, old_hash: str, new_hash: str) -> int:
        """Record a user's password hash replaced (fingerprinted) by a new one (sealed).

        Returns the ledger's new end.
        """
        account = self.account(username)
        nonce = os.urandom(_NONCE)
        sealed = self._seal.encrypt(nonce, new_hash.encode("utf-8"), _aad(account))
        retired = self.fingerprint(account, old_hash)
        value = f"{retired}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"
        return self._append("password", account, value)

    def restrict_subject(self, subject_id: str) -> int:
        """Record a subject's processing restricted; returns the ledger's new end."""
        return self._append("restrict", _subject(subject_id), "-")

    def lift_restriction(self, subject_id: str) -> int:
        """Record a subject's restriction lifted; returns the ledger's new end."""
        return self._append("lift", _subject(subject_id), "-")

    def leave_watchlist(self, subject_id: str, watchlist_id: str) -> int:
        """Record a subject taken off a watchlist; returns the ledger's new end."""
        return self._append("leave", _subject(subject_id), _watchlist(watchlist_id))

    def join_watchlist(self, subject_id: str, watchlist_id: str) -> int:
        """Record a subject put on a watchlist; returns the ledger's new end."""
        return self._append("join", _subject(subject_id), _watchlist(watchlist_id))

    def drop_watchlist(self, watchlist_id: str) -> int:
        """Record a watchlist deleted; returns the ledger's new end."""
        return self._append("drop", _subject(watchlist_id), "-")

    def remove_face(self, face_id: str) -> int:
        """Record a face removed (its random id); returns the ledger's new end."""
        return self._append("face", _subject(face_id), "-")

    def rectify_subject(self, subject_id: str, sealed: bytes) -> int:
        """Record a subject's record corrected (``sealed``: opaque here); returns the new end."""
        return self._append(
            "rectify", _subject(subject_id), base64.urlsafe_b64encode(sealed).decode("ascii")
        )

    def _append(self, kind: Kind, target: str, value: str) -> int:
        body = f"{kind} {target} {value}"

        def chained(fd: int) -> bytes:
            previous = _last_mac(_read_all(fd))
            return f"{body} {self._mac(previous, body)}\n".encode("ascii")

        with locked(self._dir, exclusive=True):
            return append_line(self._path, chained)

    # Reading --------------------------------------------------------------

    def end(self) -> int:
        """The ledger's length in bytes (what a database records as applied)."""
        try:
            return os.stat(self._path).st_size
        except FileNotFoundError:
            return 0

    def since(self, offset: int) -> tuple[list[Revocation], int]:
        """The records that start at byte ``offset`` or later, and the end they were read to.

        The whole ledger is authenticated, whatever the offset; an offset past
        the end (a ledger older than the database) reads it all.

        Raises:
            IntegrityError: a line fails authentication (altered, forged,
                removed or moved), or a sealed hash does not open.
        """
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return [], 0
        try:
            check_private(self._path, os.fstat(fd))
            data = _read_all(fd)
        finally:
            os.close(fd)
        whole = data[: data.rfind(b"\n") + 1]
        if offset > len(whole):
            offset = 0
        found = [r for r in self._records(whole) if r.end > offset]
        return found, len(whole)

    def _records(self, whole: bytes) -> Iterator[Revocation]:
        previous, at = "", 0
        for number, raw in enumerate(whole.split(b"\n")[:-1], start=1):
            at += len(raw) + 1
            match = _LINE_RE.match(raw.decode("ascii", "replace"))
            if match is None or not hmac.compare_digest(
                match["mac"], self._mac(previous, match["body"])
            ):
                raise IntegrityError(
                    f"line {number} of the revocation ledger {self._path} fails authentication "
                    "(altered, forged, removed or moved); restore the key directory from backup"
                )
            previous = match["mac"]
            kind: Kind = match["kind"]  # type: ignore[assignment]  # the pattern allows only these
            if kind == "rectify":
                correction = base64.urlsafe_b64decode(match["value"])
                yield Revocation(kind, match["target"], None, None, at, correction)
                continue
            if kind in ("leave", "join"):
                watchlist = match["value"]
                yield Revocation(kind, match["target"], None, None, at, watchlist=watchlist)
                continue
            if kind != "password":
                yield Revocation(kind, match["target"], None, None, at)
                continue
            retired, _, sealed = match["value"].partition(".")
            new_hash = self._unseal(match["target"], sealed)
            yield Revocation(kind, match["target"], new_hash, retired, at)

    def _unseal(self, account: str, value: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(value)
            return self._seal.decrypt(raw[:_NONCE], raw[_NONCE:], _aad(account)).decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error):
            raise IntegrityError(
                f"a sealed password in the revocation ledger {self._path} does not open; "
                "restore the key directory from backup"
            ) from None

    def _mac(self, previous: str, body: str) -> str:
        return hmac.new(
            self._mac_key, f"{previous}\n{body}".encode("ascii"), hashlib.sha256
        ).hexdigest()


def _subject(subject_id: str) -> str:
    if not _SUBJECT_ID_RE.match(subject_id):
        raise ValueError(f"invalid subject id {subject_id!r}")
    return subject_id


def _watchlist(watchlist_id: str) -> str:
    # As a line's value may be written: no ':' (an id an older deployment gave may hold one).
    if not re.fullmatch(r"[A-Za-z0-9_.=-]{1,60}", watchlist_id):
        raise ValueError(f"invalid watchlist id {watchlist_id!r}")
    return watchlist_id


def _derive(audit_key: bytes, purpose: bytes) -> bytes:
    return hmac.new(audit_key, _DOMAIN + purpose, hashlib.sha256).digest()


def _aad(account: str) -> bytes:
    return _DOMAIN + b"password/" + account.encode("ascii")


def _read_all(fd: int) -> bytes:
    chunks, at = [], 0
    while chunk := os.pread(fd, 1 << 20, at):
        chunks.append(chunk)
        at += len(chunk)
    return b"".join(chunks)


def _last_mac(whole: bytes) -> str:
    if not whole:
        return ""
    last = whole[:-1].rsplit(b"\n", 1)[-1]
    return last.rsplit(b" ", 1)[-1].decode("ascii", "replace")
