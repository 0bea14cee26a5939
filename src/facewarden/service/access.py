"""Who may call facewarden, and as what: the users, and the one facade over access.

* **Users** (people) sign in with a password, kept only as an argon2id hash;
  signing in and the sessions it opens are :mod:`facewarden.service.sign_ins`.
* **API keys** (machines) are :mod:`facewarden.service.api_keys`.
* **Roles** are exactly SECURITY.md's (:mod:`facewarden.service.roles`).

:class:`Access` is all three for one actor. Every user creation, disabling
and password change (a wrong current password included) is audited; wrong
current passwords are rate-limited by the caller's
:class:`~facewarden.service.ratelimit.FailureLimiter`. Disabling a user,
changing a password and revoking an API key are also recorded in the
revocation ledger, so a restore of an older backup cannot undo them
(:mod:`facewarden.service.revocation`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from facewarden.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
)
from facewarden.service.api_keys import ApiKeys
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.credentials import (
    USERNAME_RE,
    check_password,
    hash_password,
    password_matches,
)
from facewarden.service.ratelimit import FailureLimiter
from facewarden.service.records import invalid_input
from facewarden.service.refusals import audit_refusal
from facewarden.service.revocation import APPLIED as REVOCATIONS_APPLIED
from facewarden.service.roles import check_role
from facewarden.service.sign_ins import SignIns
from facewarden.store.base import UserRow

__all__ = ["Access", "Bootstrap", "User"]


@dataclass(frozen=True)
class User:
    """A person who can sign in."""

    username: str
    role: str
    created_at: datetime
    disabled: bool


@dataclass(frozen=True)
class Bootstrap:
    """The first admin's credentials, created at first start and printed once."""

    username: str
    password: str = field(repr=False)
    api_key: str = field(repr=False)


def _user(row: UserRow) -> User:
    return User(row.username, row.role, row.created_at, row.disabled)


class Access(SignIns, ApiKeys):
    """Users, sessions and API keys, acting (and audited) as one actor."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit

    # -- users -------------------------------------------------------------

    def create_user(self, username: str, password: str, role: str) -> User:
        """Add a person who can sign in.

        Raises:
            InvalidInputError: a malformed username, a short password or an unknown role.
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
            check_role(role),
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

    def end_every_session(self) -> int:
        """End every open session, whoever holds it; how many ended.

        A restore calls it: the sessions table comes back as it was when the
        backup was taken, with sessions ended since (a sign-out, a password
        change, a disabled account) among them.
        """
        with self._ctx.writing() as tx:
            return sum(tx.delete_sessions_of(user.username) for user in tx.list_users())

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
            # Before the commit, outside the database: a restore cannot re-enable them.
            tx.set_meta(
                REVOCATIONS_APPLIED, str(self._ctx.keyring.revocations.disable_user(username))
            )
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
        and is audited, like a failed sign-in; so are attempts refused during
        the lockout (outcome ``locked``: the lock's first at once, the rest in one
        summary, see :mod:`facewarden.service.refusals`).

        Raises:
            RateLimitedError: too many failed attempts for this account.
            AuthenticationError: the current password is wrong.
            InvalidInputError: the new password is too short or too long.
        """
        check_password(new)
        key = f"user:{username[:64]}"
        if limiter is not None:
            try:
                limiter.attempt(key, what="password checks")
            except RateLimitedError as refused:
                audit_refusal(
                    self._ctx,
                    self._audit,
                    "user.password",
                    object_type="user",
                    object_id=username,
                    client="",
                    retry_after=refused.retry_after,
                )
                raise
        row = self._ctx.store.get_user(username)
        if row is None or row.disabled or not password_matches(row.password_hash, current[:4096]):
            self._audit.record(
                "user.password",
                object_type="user",
                object_id=username,
                outcome="denied",
                details={"reason": "current password"},
            )
            raise AuthenticationError("the current password is wrong")
        if limiter is not None:
            limiter.clear(give_back=(key,))
        new_hash = hash_password(new)
        with self._ctx.writing() as tx:
            replaced = tx.get_user(username) or row  # read again under the write lock
            tx.update_user(username, password_hash=new_hash)
            tx.delete_sessions_of(username)
            # A restore that brings the replaced hash back sets this one: it stays retired.
            ledger = self._ctx.keyring.revocations
            end = ledger.change_password(username, replaced.password_hash, new_hash)
            tx.set_meta(REVOCATIONS_APPLIED, str(end))
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


def _enabled_admins(users: list[UserRow]) -> int:
    return sum(1 for u in users if u.role == "admin" and not u.disabled)
