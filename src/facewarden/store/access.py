"""The store's part for access control and aliases: users, API keys, sessions, subject aliases.

Part of the :mod:`facewarden.store.base` contract (its ``Reader`` and
``Transaction`` include these protocols). As everywhere in the store,
nothing here is a secret in the clear: passwords arrive as argon2id hashes,
API-key secrets and session tokens as SHA-256 hashes, and an alias is a
keyed token (an HMAC of an external name, e.g. a CompreFace subject name),
never the name itself; so is a rate limiter's key (an address and account).

Users are never deleted, only disabled, so ``user:<name>`` in the audit log
always means one person; deleting a user's sessions is a separate write.
An alias hangs off its subject: erasing the subject erases it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = [
    "AccessReader",
    "AccessWriter",
    "AliasRow",
    "ApiKeyRow",
    "LockoutRow",
    "SessionRow",
    "UserRow",
]


@dataclass(frozen=True)
class UserRow:
    """A person who can sign in.

    Attributes:
        username: unique, lower-case; never reused.
        password_hash: the argon2id hash (PHC string) of the password.
        role: one of the roles of :mod:`facewarden.service.access`.
        disabled: a disabled user cannot sign in (users are not deleted).
    """

    username: str
    password_hash: str
    role: str
    created_at: datetime
    disabled: bool = False


@dataclass(frozen=True)
class ApiKeyRow:
    """An API key: its id is public (it is part of the key), its secret only a hash.

    Attributes:
        key_id: random hex, unique.
        name: what it is for, chosen by a person.
        secret_hash: SHA-256 of the key's secret (hex).
        expires_at: when it stops working, or None.
        created_by: the actor who issued it (``user:alice``).
    """

    key_id: str
    name: str
    role: str
    secret_hash: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    created_by: str


@dataclass(frozen=True)
class SessionRow:
    """An open sign-in, found by the SHA-256 hash of its token."""

    token_hash: str
    username: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class AliasRow:
    """An external name of a subject, as a keyed token, in one namespace (``kind``).

    Unique per ``(kind, token)`` and per ``(kind, subject_id)``.
    """

    kind: str
    token: str
    subject_id: str
    created_at: datetime


@dataclass(frozen=True)
class LockoutRow:
    """A rate limiter's count for one key, which is stored only as a keyed hash.

    Attributes:
        failures: attempts counted in the window ending at ``window_end``.
        locked_until: the end of the latest lock (kept once over, for the backoff).
        strikes: how often the key was locked while it was remembered.
        forget_at: when nothing of the row matters any more.
    """

    failures: int
    window_end: datetime | None
    locked_until: datetime | None
    strikes: int
    forget_at: datetime


class AccessReader(Protocol):
    """Reads of users, keys, sessions and aliases."""

    def get_user(self, username: str) -> UserRow | None: ...

    def list_users(self) -> list[UserRow]:
        """Every user (disabled ones too), by username."""
        ...

    def get_api_key(self, key_id: str) -> ApiKeyRow | None: ...

    def list_api_keys(self) -> list[ApiKeyRow]:
        """Every API key (revoked ones too), oldest first."""
        ...

    def get_session(self, token_hash: str) -> SessionRow | None:
        """The session with this token hash, or None (expired ones are returned too)."""
        ...

    def subject_by_alias(self, kind: str, token: str) -> str | None:
        """The subject holding alias ``token`` in namespace ``kind``, or None."""
        ...

    def alias_of(self, kind: str, subject_id: str) -> str | None:
        """The subject's alias token in namespace ``kind``, or None."""
        ...

    def list_aliases(
        self, kind: str, *, after: str | None = None, limit: int = 100
    ) -> list[AliasRow]:
        """Aliases of ``kind`` ordered by subject id, those after subject ``after``."""
        ...

    def alias_faces(
        self, kind: str, *, subject_id: str | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[tuple[str, str]], int]:
        """A page of ``(face id, subject id)`` of the subjects with an alias of ``kind``.

        Ordered as the faces were added (creation time, then face id), as
        CompreFace lists them; only ``subject_id``'s when given. Also returns
        how many there are in all.
        """
        ...

    def count_aliases(self, kind: str) -> int:
        """How many aliases namespace ``kind`` holds."""
        ...

    def lockout(self, key_hash: str) -> LockoutRow | None:
        """A limiter key's row; in a transaction it is read under the write lock, so
        updating it is atomic; outside one it is a snapshot (refusing while locked)."""
        ...


class AccessWriter(Protocol):
    """Writes of users, keys, sessions and aliases (inside a transaction)."""

    def insert_user(self, row: UserRow) -> None:
        """Add a user.

        Raises:
            ConflictError: the username is taken.
        """
        ...

    def update_user(
        self,
        username: str,
        *,
        password_hash: str | None = None,
        role: str | None = None,
        disabled: bool | None = None,
    ) -> None:
        """Change what is given of a user.

        Raises:
            NotFoundError: no such user.
        """
        ...

    def insert_api_key(self, row: ApiKeyRow) -> None:
        """Add an API key.

        Raises:
            ConflictError: the key id is taken.
        """
        ...

    def revoke_api_key(self, key_id: str, revoked_at: datetime) -> bool:
        """Mark a key revoked; False if it does not exist or was revoked already."""
        ...

    def insert_session(self, row: SessionRow) -> None:
        """Open a session for an existing user.

        Raises:
            NotFoundError: the user does not exist.
            ConflictError: the token hash is taken.
        """
        ...

    def delete_session(self, token_hash: str) -> bool:
        """End a session; False if there was none."""
        ...

    def delete_sessions_of(self, username: str) -> int:
        """End every session of a user; returns how many."""
        ...

    def delete_sessions_before(self, cutoff: datetime) -> int:
        """Forget sessions that expired before ``cutoff``; returns how many."""
        ...

    def insert_alias(self, row: AliasRow) -> None:
        """Give an existing subject an alias.

        Raises:
            NotFoundError: the subject does not exist.
            ConflictError: the token, or the subject, already has an alias of that kind.
        """
        ...

    def delete_alias(self, kind: str, subject_id: str) -> bool:
        """Remove the subject's alias of ``kind``; False if it had none."""
        ...

    def put_lockout(self, key_hash: str, row: LockoutRow | None) -> None:
        """Insert or replace a limiter key's row; None deletes it."""
        ...

    def forget_lockouts(self, now: datetime, *, keep: int | None) -> int:
        """Delete the rows forgotten by ``now``, then the soonest forgotten beyond ``keep``."""
        ...
