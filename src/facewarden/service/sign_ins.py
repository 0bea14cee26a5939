"""Sign-in sessions: a password checked, a session opened, found again and ended.

A sign-in opens a **session**: a random token held by the browser, stored
here as a SHA-256 hash, with an absolute expiry. Its CSRF token is derived
from the session token, so it needs no storage and cannot be guessed
without the session token. Every sign-in, failed sign-in and sign-out is
audited; failures are rate-limited by the caller's
:class:`~facewarden.service.ratelimit.FailureLimiter`. Sign-ins refused during a
lockout are audited once per lock and then counted into one summary entry
(:mod:`facewarden.service.refusals`), so a flood of them is no flood of writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from facewarden.errors import AuthenticationError, RateLimitedError
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.credentials import (
    USERNAME_RE,
    csrf_token_for,
    dummy_hash,
    new_session_token,
    password_matches,
    session_hash,
)
from facewarden.service.ratelimit import FailureLimiter, client_key
from facewarden.service.refusals import audit_refusal
from facewarden.service.roles import Principal
from facewarden.store.base import SessionRow

__all__ = ["Session", "SignIns"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Session:
    """An open sign-in: the token goes in the cookie, the CSRF token in unsafe requests."""

    principal: Principal
    token: str = field(repr=False)
    csrf_token: str = field(repr=False)
    expires_at: datetime


class SignIns:
    """Sign in, find a session, sign out; :class:`~facewarden.service.access.Access` has it."""

    _ctx: Context
    _audit: AuditLog

    def login(
        self, username: str, password: str, *, client: str, limiter: FailureLimiter
    ) -> Session:
        """Check a password and open a session.

        Args:
            username: who signs in.
            password: their password (never logged, never stored).
            client: the caller's address, for the rate limit and the audit log.
            limiter: the deployment's failed-sign-in counter.

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
        # An IPv6 client is counted by its /64, which it can send from at will.
        source = client_key(client)
        pair, address = f"pair:{source}|{username[:64]}", f"addr:{source}"
        known = USERNAME_RE.match(username) is not None
        try:
            # Counted before the password is checked (a success gives it back),
            # so parallel guesses cannot all pass while the first are checked.
            limiter.attempt(pair, address, what="sign-ins", checked=(f"user:{username[:64]}",))
        except RateLimitedError as refused:
            row = self._ctx.store.get_user(username) if known else None
            logger.warning("sign-in refused during a lockout from %s", client)
            # Audited once per lock and then in summary: a flood is not a write flood.
            audit_refusal(
                self._ctx,
                self._audit,
                "auth.login",
                object_type="user",
                object_id=username if row is not None else "",
                client=client[:64],
                retry_after=refused.retry_after,
            )
            raise
        row = self._ctx.store.get_user(username) if known else None
        valid = password_matches(row.password_hash if row else dummy_hash(), password[:4096])
        if row is None or row.disabled or not valid:
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
        limiter.clear(pair, give_back=(address,))
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
