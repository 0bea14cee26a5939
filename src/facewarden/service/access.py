"""Who may call facewarden, and as what: users, sessions, API keys and roles.

* **Users** (people) sign in with a password, kept only as an argon2id hash.
  A sign-in opens a **session**: a random token held by the browser, stored
  here as a SHA-256 hash, with an absolute expiry. Its CSRF token is derived
  from the session token, so it needs no storage and cannot be guessed
  without the session token.
* **API keys** (machines) look like ``fwk_<key id>_<secret>``: 256 random
  bits of secret, shown once at creation, stored as a SHA-256 hash (a
  256-bit secret needs no slow hash). Keys carry one role, may expire and
  can be revoked.
* **Roles** are exactly SECURITY.md's: ``admin`` (users, keys, settings,
  audit; and everything an operator may), ``operator`` (enroll, identify,
  verify), ``investigator`` (sighting history with a case reference; subject
  read), ``analyst`` (crowd aggregates only), ``auditor`` (the audit log).

Every sign-in, failed sign-in, sign-out, rejected API key, user and key
creation, revocation and password change is audited. Failed sign-ins and
bad keys are rate-limited by the caller's :class:`~facewarden.service.ratelimit.FailureLimiter`.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from facewarden.errors import AuthenticationError, ConflictError, NotFoundError, RateLimitedError
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.credentials import (
    KEY_RE,
    MAX_KEY_DAYS,
    USERNAME_RE,
    check_password,
    csrf_token_for,
    dummy_hash,
    hash_password,
    key_hash,
    new_api_key,
    new_session_token,
    password_matches,
    session_hash,
)
from facewarden.service.ratelimit import FailureLimiter
from facewarden.service.records import invalid_input
from facewarden.store.base import ApiKeyRow, SessionRow, UserRow

__all__ = [
    "ROLES",
    "Access",
    "ApiKey",
    "Bootstrap",
    "IssuedKey",
    "Principal",
    "Session",
    "User",
    "csrf_token_for",
    "expand_roles",
]

logger = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("admin", "operator", "investigator", "analyst", "auditor")
"""Every role, most privileged first."""

# An admin may do everything an operator may (SECURITY.md promise 4), and read
# the audit log; no other role includes another.
_INCLUDED: dict[str, frozenset[str]] = {"admin": frozenset({"operator", "auditor"})}


def expand_roles(roles: tuple[str, ...] | list[str]) -> frozenset[str]:
    """The roles that may act where ``roles`` are allowed (admin included where operator is)."""
    allowed = set(roles)
    for role, included in _INCLUDED.items():
        if allowed & included:
            allowed.add(role)
    return frozenset(allowed)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a signed-in user or an API key, with its role."""

    kind: Literal["user", "key"]
    name: str
    role: str

    @property
    def actor(self) -> str:
        """How the audit log names this caller (``user:alice``, ``key:0123abcd...``)."""
        return f"{self.kind}:{self.name}"

    def may(self, *roles: str) -> bool:
        """True when this caller's role is among ``roles`` (admin counts as operator)."""
        return self.role in expand_roles(roles)


@dataclass(frozen=True)
class User:
    """A person who can sign in."""

    username: str
    role: str
    created_at: datetime
    disabled: bool


@dataclass(frozen=True)
class ApiKey:
    """An API key as listed: never its secret."""

    key_id: str
    name: str
    role: str
    created_at: datetime
    expires_at: datetime | None
    revoked: bool
    created_by: str


@dataclass(frozen=True)
class IssuedKey:
    """A new API key with its full value, which is shown once and never stored."""

    key: ApiKey
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Session:
    """An open sign-in: the token goes in the cookie, the CSRF token in unsafe requests."""

    principal: Principal
    token: str = field(repr=False)
    csrf_token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class Bootstrap:
    """The first admin's credentials, created at first start and printed once."""

    username: str
    password: str = field(repr=False)
    api_key: str = field(repr=False)


def _user(row: UserRow) -> User:
    return User(row.username, row.role, row.created_at, row.disabled)


def _api_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        row.key_id,
        row.name,
        row.role,
        row.created_at,
        row.expires_at,
        row.revoked_at is not None,
        row.created_by,
    )


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise invalid_input(f"unknown role {role!r}; choose one of: {', '.join(ROLES)}")
    return role


class Access:
    """Users, sessions and API keys, acting (and audited) as one actor."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit

    # -- users -------------------------------------------------------------

    def create_user(self, username: str, password: str, role: str) -> User:
        """Add a person who can sign in.

        Raises:
            ConfigError: a malformed username, a short password or an unknown role.
            ConflictError: the username is taken (also by a disabled user: names are not reused,
                so the audit log's ``user:<name>`` always means one person).
        """
        if not USERNAME_RE.match(username):
            raise invalid_input(
                "a username is 1 to 64 lower-case letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        row = UserRow(
            username,
            hash_password(check_password(password)),
            _check_role(role),
            self._ctx.clock(),
        )
        with self._ctx.writing() as tx:
            if tx.get_user(username) is not None:
                raise ConflictError(f"the username {username!r} is taken")
            tx.insert_user(row)
            self._audit.append(
                tx, "user.create", object_type="user", object_id=username, details={"role": role}
            )
        return _user(row)

    def users(self) -> list[User]:
        """Every user, by username (disabled ones included)."""
        self._ctx.ensure_open()
        return [_user(row) for row in self._ctx.store.list_users()]

    def disable_user(self, username: str) -> None:
        """Disable a user and end their sessions; the name stays taken.

        Raises:
            NotFoundError: no such user.
            ConflictError: it is the caller, or the last enabled admin.
        """
        if self._audit.actor == f"user:{username}":
            raise ConflictError("you cannot remove your own account; ask another admin")
        with self._ctx.writing() as tx:
            row = tx.get_user(username)
            if row is None or row.disabled:
                raise NotFoundError(f"no user {username!r}")
            if row.role == "admin" and _enabled_admins(tx.list_users()) <= 1:
                raise ConflictError("this is the last admin; create another admin first")
            tx.update_user(username, disabled=True)
            ended = tx.delete_sessions_of(username)
            self._audit.append(
                tx,
                "user.disable",
                object_type="user",
                object_id=username,
                details={"sessions_ended": ended},
            )

    def change_password(
        self, username: str, current: str, new: str, *, limiter: FailureLimiter | None = None
    ) -> None:
        """Change a user's own password; every other session of theirs ends.

        A wrong current password counts against the account's sign-in limit
        (a stolen session cookie must not become a password-guessing oracle)
        and is audited, like a failed sign-in.

        Raises:
            RateLimitedError: too many failed attempts for this account.
            AuthenticationError: the current password is wrong.
            ConfigError: the new password is too short or too long.
        """
        check_password(new)
        keys = (f"user:{username[:64]}",)
        if limiter is not None:
            limiter.check(*keys, what="password checks")
        row = self._ctx.store.get_user(username)
        if row is None or row.disabled or not password_matches(row.password_hash, current[:4096]):
            if limiter is not None:
                limiter.failure(*keys)
            self._audit.record(
                "user.password",
                object_type="user",
                object_id=username,
                outcome="denied",
                details={"reason": "current password"},
            )
            raise AuthenticationError("the current password is wrong")
        new_hash = hash_password(new)
        with self._ctx.writing() as tx:
            tx.update_user(username, password_hash=new_hash)
            tx.delete_sessions_of(username)
            self._audit.append(tx, "user.password", object_type="user", object_id=username)

    def has_admin(self) -> bool:
        """True when at least one enabled admin can sign in."""
        self._ctx.ensure_open()
        return _enabled_admins(self._ctx.store.list_users()) > 0

    def bootstrap(self) -> Bootstrap | None:
        """At first start, create the admin with a random password and an admin API key.

        Returns None when an enabled admin exists already. Nothing has a
        default secret: both credentials come from the OS's CSPRNG, and only
        their hashes are stored; the caller shows them once.
        """
        if self.has_admin():
            return None
        taken = {u.username for u in self.users()}
        username = "admin" if "admin" not in taken else f"admin-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(18)
        self.create_user(username, password, "admin")
        issued = self.create_api_key(f"{username} (first start)", "admin")
        return Bootstrap(username, password, issued.secret)

    # -- sessions ----------------------------------------------------------

    def login(
        self, username: str, password: str, *, client: str, limiter: FailureLimiter
    ) -> Session:
        """Check a password and open a session.

        Args:
            username: who signs in.
            password: their password (never logged, never stored).
            client: the caller's address, for the rate limit and the audit log.
            limiter: the process's failed-sign-in counter.

        Raises:
            RateLimitedError: too many failures from this address, or from it for this
                account (the refused attempt is audited and logged too).
            AuthenticationError: wrong username or password, or a disabled account
                (one message for all three).
        """
        # Failures lock the (address, account) pair, so a stranger failing
        # against an account locks only themselves out of it; and the address,
        # so one address cannot try every account. The account as a whole is
        # locked only by wrong current passwords in a password change, which
        # needs the account's own session.
        keys = (f"pair:{client}|{username[:64]}", f"addr:{client}")
        known = USERNAME_RE.match(username) is not None
        try:
            limiter.check(*keys, f"user:{username[:64]}", what="sign-ins")
        except RateLimitedError:
            row = self._ctx.store.get_user(username) if known else None
            logger.warning("sign-in refused during a lockout from %s", client)
            self._audit.record(
                "auth.login",
                object_type="user",
                object_id=username if row is not None else "",
                outcome="locked",
                details={"reason": "locked_out", "client": client[:64]},
            )
            raise
        row = self._ctx.store.get_user(username) if known else None
        valid = password_matches(row.password_hash if row else dummy_hash(), password[:4096])
        if row is None or row.disabled or not valid:
            limiter.failure(*keys)
            reason = "unknown_user" if row is None else "disabled" if row.disabled else "password"
            logger.warning("failed sign-in from %s (%s)", client, reason)
            self._audit.record(
                "auth.login",
                object_type="user",
                object_id=username if row is not None else "",
                outcome="denied",
                details={"reason": reason, "client": client[:64]},
            )
            raise AuthenticationError("wrong username or password")
        limiter.clear(keys[0])
        token = new_session_token()
        now = self._ctx.clock()
        expires = now + timedelta(minutes=self._ctx.settings.session_minutes)
        with self._ctx.writing() as tx:
            tx.delete_sessions_before(now)
            tx.insert_session(SessionRow(session_hash(token), username, now, expires))
            self._audit.append(
                tx,
                "auth.login",
                object_type="user",
                object_id=username,
                details={"client": client[:64]},
            )
        return Session(Principal("user", username, row.role), token, csrf_token_for(token), expires)

    def session(self, token: str) -> Session:
        """The open session a cookie names (not audited: it runs on every request).

        Raises:
            AuthenticationError: unknown or expired session, or a disabled user.
        """
        self._ctx.ensure_open()
        row = self._ctx.store.get_session(session_hash(token)) if token.isascii() else None
        if row is None or row.expires_at <= self._ctx.clock():
            raise AuthenticationError("not signed in, or the session has expired; sign in again")
        user = self._ctx.store.get_user(row.username)
        if user is None or user.disabled:
            raise AuthenticationError("this account is disabled")
        principal = Principal("user", user.username, user.role)
        return Session(principal, token, csrf_token_for(token), row.expires_at)

    def logout(self, token: str) -> None:
        """End a session (idempotent)."""
        with self._ctx.writing() as tx:
            if tx.delete_session(session_hash(token)):
                self._audit.append(tx, "auth.logout")

    # -- API keys ----------------------------------------------------------

    def create_api_key(
        self, name: str, role: str, *, expires_in_days: int | None = None
    ) -> IssuedKey:
        """Issue an API key; its full value is in the result, and nowhere else, ever.

        Raises:
            ConfigError: an empty or overlong name, an unknown role, a bad expiry.
        """
        name = name.strip()
        if not 0 < len(name) <= 64 or not name.isprintable():
            raise invalid_input("an API key needs a name of 1 to 64 printable characters")
        _check_role(role)
        if expires_in_days is not None and not 1 <= expires_in_days <= MAX_KEY_DAYS:
            raise invalid_input(f"expires_in_days must be 1 to {MAX_KEY_DAYS}")
        key_id, secret, full = new_api_key()
        now = self._ctx.clock()
        expires = None if expires_in_days is None else now + timedelta(days=expires_in_days)
        row = ApiKeyRow(
            key_id, name, role, key_hash(key_id, secret), now, expires, None, self._audit.actor
        )
        with self._ctx.writing() as tx:
            tx.insert_api_key(row)
            self._audit.append(
                tx,
                "api_key.create",
                object_type="api_key",
                object_id=key_id,
                details={"role": role, "expires_in_days": expires_in_days},
            )
        return IssuedKey(_api_key(row), full)

    def api_keys(self) -> list[ApiKey]:
        """Every API key, oldest first, revoked ones included; never a secret."""
        self._ctx.ensure_open()
        return [_api_key(row) for row in self._ctx.store.list_api_keys()]

    def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key at once; it cannot be used again.

        Raises:
            NotFoundError: no such key, or it is revoked already.
        """
        with self._ctx.writing() as tx:
            if not tx.revoke_api_key(key_id, self._ctx.clock()):
                raise NotFoundError(f"no active API key {key_id!r}")
            self._audit.append(tx, "api_key.revoke", object_type="api_key", object_id=key_id)

    def authenticate_key(
        self, presented: str, *, client: str, limiter: FailureLimiter
    ) -> Principal:
        """The caller an ``X-API-Key`` value stands for.

        A valid key always works; bad keys count against the caller's address.

        Raises:
            RateLimitedError: a bad key, after too many bad keys from this address.
            AuthenticationError: malformed, unknown, wrong, expired or revoked (one message).
        """
        address = f"addr:{client}"
        match = KEY_RE.match(presented)
        row = self._ctx.store.get_api_key(match.group(1)) if match else None
        reason = self._rejection(row, match.group(2) if match else "")
        if row is None or reason:
            # A valid key is never locked out (a neighbour behind the same
            # address cannot lock a client out); a bad one over the limit is
            # refused without another audit entry.
            limiter.check(address, what="API keys")
            limiter.failure(address)
            logger.warning("rejected API key from %s (%s)", client, reason or "unknown")
            self._audit.record(
                "auth.api_key",
                object_type="api_key",
                object_id=row.key_id if row else "",
                outcome="denied",
                details={"reason": reason or "unknown", "client": client[:64]},
            )
            raise AuthenticationError("the API key is not valid (wrong, expired or revoked)")
        return Principal("key", row.key_id, row.role)

    def _rejection(self, row: ApiKeyRow | None, secret: str) -> str:
        if row is None:
            return "unknown"
        if not hmac.compare_digest(row.secret_hash, key_hash(row.key_id, secret)):
            return "wrong_secret"
        if row.revoked_at is not None:
            return "revoked"
        if row.expires_at is not None and row.expires_at <= self._ctx.clock():
            return "expired"
        return ""


def _enabled_admins(users: list[UserRow]) -> int:
    return sum(1 for u in users if u.role == "admin" and not u.disabled)
