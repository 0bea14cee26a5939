"""The native API's bodies for watchlists, the audit log, sessions, users and keys.

The rest (errors, faces, recognition, subjects) is :mod:`facewarden.api.schemas`;
the same rules hold: only what a model names is ever serialised.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from facewarden.match.thresholds import DEFAULT_FMR
from facewarden.privacy.audit import AuditEntry
from facewarden.service.access import User
from facewarden.service.api_keys import ApiKey
from facewarden.service.watchlists import Watchlist

__all__ = [
    "ApiKeyCreatedOut",
    "ApiKeyIn",
    "ApiKeyListOut",
    "ApiKeyOut",
    "AuditEntryOut",
    "AuditListOut",
    "AuditVerifyOut",
    "KeyStatusOut",
    "LoginIn",
    "LoginOut",
    "MemberListOut",
    "MemberOut",
    "PasswordIn",
    "Role",
    "SessionUserOut",
    "StatsOut",
    "UserIn",
    "UserListOut",
    "UserOut",
    "WatchlistIn",
    "WatchlistListOut",
    "WatchlistOut",
]

Role = Literal["admin", "operator", "investigator", "analyst", "auditor"]
"""The roles of :data:`facewarden.service.roles.ROLES` (a test keeps the two equal)."""


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- watchlists ------------------------------------------------------------


class WatchlistIn(_In):
    """A new watchlist: its purpose and lawful basis are declared when it is created."""

    name: str = Field(min_length=1, max_length=64)
    purpose: str = Field(min_length=1, max_length=128)
    lawful_basis: str = Field(min_length=1, max_length=200)
    fmr: float = Field(default=DEFAULT_FMR, gt=0, lt=1, allow_inf_nan=False)


class WatchlistOut(BaseModel):
    """A watchlist with its operating point and the threshold it searches with now."""

    watchlist_id: str
    name: str
    purpose: str
    lawful_basis: str
    fmr: float
    threshold: float
    members: int
    created_at: datetime

    @classmethod
    def from_watchlist(cls, wl: Watchlist, threshold: float) -> WatchlistOut:
        """Map a service watchlist and its current threshold."""
        return cls(
            watchlist_id=wl.watchlist_id,
            name=wl.name,
            purpose=wl.purpose,
            lawful_basis=wl.lawful_basis,
            fmr=wl.fmr,
            threshold=round(threshold, 4),
            members=wl.members,
            created_at=wl.created_at,
        )


class WatchlistListOut(BaseModel):
    """Every watchlist."""

    watchlists: list[WatchlistOut]


class MemberOut(BaseModel):
    """A subject on a watchlist."""

    subject_id: str
    full_name: str


class MemberListOut(BaseModel):
    """A page of a watchlist's subjects; pass ``next_after`` as ``after`` for the next."""

    members: list[MemberOut]
    next_after: str | None


class StatsOut(BaseModel):
    """How much the deployment holds (numbers only)."""

    subjects: int
    watchlists: int


# -- audit -----------------------------------------------------------------


class AuditEntryOut(BaseModel):
    """One audit entry (pseudonymous ids only)."""

    seq: int
    ts: str
    actor: str
    action: str
    object_type: str
    object_id: str
    purpose: str
    outcome: str
    details: dict[str, Any]

    @classmethod
    def from_entry(cls, entry: AuditEntry) -> AuditEntryOut:
        """Map a stored entry (its hashes stay out; ``audit verify`` checks them)."""
        record = entry.to_record()
        return cls.model_validate({k: record[k] for k in cls.model_fields})


class AuditListOut(BaseModel):
    """A page of audit entries, oldest first.

    Paging forwards: pass ``next_after`` as ``after``. Backwards: pass
    ``next_before`` as ``before`` (null: nothing older).
    """

    entries: list[AuditEntryOut]
    next_after: int | None
    next_before: int | None = None


class AuditVerifyOut(BaseModel):
    """The chain check: ``first_bad_seq`` names the first tampered, deleted or moved entry."""

    ok: bool
    checked: int
    first_bad_seq: int | None
    problem: str | None


# -- people and keys -------------------------------------------------------


class LoginIn(_In):
    """A sign-in."""

    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=4096)


class SessionUserOut(BaseModel):
    """Who is signed in (for an API key: ``key:<key id>``)."""

    username: str
    role: Role


class LoginOut(BaseModel):
    """The signed-in user and the CSRF token to send with unsafe requests (null for keys)."""

    user: SessionUserOut
    csrf_token: str | None


class PasswordIn(_In):
    """A password change: the current one, and the new one (12 characters or more)."""

    current_password: str = Field(min_length=1, max_length=4096)
    new_password: str = Field(min_length=12, max_length=1024)


class UserIn(_In):
    """A new user."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=12, max_length=1024)
    role: Role


class UserOut(BaseModel):
    """A user (never a password hash)."""

    username: str
    role: Role
    created_at: datetime
    disabled: bool

    @classmethod
    def from_user(cls, user: User) -> UserOut:
        """Map a service user."""
        return cls(
            username=user.username,
            role=user.role,  # type: ignore[arg-type]
            created_at=user.created_at,
            disabled=user.disabled,
        )


class UserListOut(BaseModel):
    """Every user, disabled ones included."""

    users: list[UserOut]


class ApiKeyIn(_In):
    """A new API key: a name for people, one role, and an optional lifetime."""

    name: str = Field(min_length=1, max_length=64)
    role: Role
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ApiKeyOut(BaseModel):
    """An API key as listed (never its secret)."""

    key_id: str
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked: bool

    @classmethod
    def from_key(cls, key: ApiKey) -> ApiKeyOut:
        """Map a service key."""
        return cls(
            key_id=key.key_id,
            name=key.name,
            role=key.role,  # type: ignore[arg-type]
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked=key.revoked,
        )


class ApiKeyCreatedOut(ApiKeyOut):
    """A new key with its full value: shown this once, stored only as a hash."""

    api_key: str


class ApiKeyListOut(BaseModel):
    """Every API key, revoked ones included."""

    api_keys: list[ApiKeyOut]


class KeyStatusOut(BaseModel):
    """Which encryption keys exist (ids only, never key material)."""

    active_master_id: str
    master_key_ids: list[str]
    data_keys_by_master: dict[str, int]
    template_key_id: str
