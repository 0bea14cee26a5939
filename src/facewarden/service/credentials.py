"""How credentials are made and checked: passwords, session tokens, CSRF tokens, API keys.

* Passwords are hashed with argon2id (argon2-cffi's defaults: 64 MiB, 3
  passes), at most two at a time so a burst of sign-ins cannot take the
  server's memory; an unknown username is checked against a dummy hash so
  it takes as long as a known one.
* Session tokens (256 random bits) are stored as a domain-separated SHA-256;
  a session's CSRF token is another one-way function of the same token.
* API keys are ``fwk_<16 hex key id>_<64 hex secret>``; the secret (256
  bits) is stored as a SHA-256 bound to its key id. A slow hash would add
  nothing against a secret that long.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from facewarden.service.records import invalid_input

__all__ = [
    "KEY_RE",
    "MAX_KEY_DAYS",
    "USERNAME_RE",
    "check_password",
    "csrf_token_for",
    "dummy_hash",
    "hash_password",
    "key_hash",
    "new_api_key",
    "new_session_token",
    "password_matches",
    "session_hash",
]

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
KEY_RE = re.compile(r"^fwk_([0-9a-f]{16})_([0-9a-f]{64})$")
_MIN_PASSWORD, _MAX_PASSWORD = 12, 1024
MAX_KEY_DAYS = 3650
_SESSION_DOMAIN = b"facewarden/session/v1\x00"
_CSRF_DOMAIN = b"facewarden/csrf/v1\x00"
_KEY_DOMAIN = b"facewarden/api-key/v1\x00"
# argon2id with its defaults takes 64 MiB and tens of milliseconds per hash:
# a burst of sign-ins must not take the server's memory with it.
_HASHING = threading.BoundedSemaphore(2)


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a session: a one-way function of its (secret) session token."""
    return hashlib.sha256(_CSRF_DOMAIN + session_token.encode("ascii")).hexdigest()


def session_hash(token: str) -> str:
    """What is stored of a session token."""
    return hashlib.sha256(_SESSION_DOMAIN + token.encode("ascii")).hexdigest()


def key_hash(key_id: str, secret: str) -> str:
    """What is stored of an API key's secret."""
    return hashlib.sha256(_KEY_DOMAIN + f"{key_id}\x00{secret}".encode("ascii")).hexdigest()


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@functools.cache
def dummy_hash() -> str:
    """A hash of nothing anyone knows."""
    # Verified against for unknown usernames, so that they take as long as known ones.
    return _hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string) of a password."""
    with _HASHING:
        return _hasher().hash(password)


def password_matches(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash (False for a malformed hash)."""
    with _HASHING:
        try:
            return _hasher().verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def check_password(password: str) -> str:
    """A new password, if long enough (and not absurdly long).

    Raises:
        InvalidInputError: under 12 or over 1024 characters.
    """
    if not _MIN_PASSWORD <= len(password) <= _MAX_PASSWORD:
        raise invalid_input(
            f"a password needs {_MIN_PASSWORD} to {_MAX_PASSWORD} characters; "
            "a passphrase of several words is easiest to remember"
        )
    return password


def new_session_token() -> str:
    """A fresh session token (256 bits from the OS's CSPRNG)."""
    return secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str, str]:
    """A fresh API key: its id, its secret, and the full value shown once."""
    key_id, secret = secrets.token_hex(8), secrets.token_hex(32)
    return key_id, secret, f"fwk_{key_id}_{secret}"
