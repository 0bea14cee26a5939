"""API keys: how machines call facewarden, each key with one role.

A key looks like ``fwk_<key id>_<secret>``: 256 random bits of secret,
shown once at creation and stored as a SHA-256 hash (a 256-bit secret needs
no slow hash). Keys may expire and can be revoked; creation, revocation and
every rejected key are audited, and bad keys are rate-limited per address
by the caller's :class:`~facewarden.service.ratelimit.FailureLimiter` (a bad
key refused once its address is locked adds no audit entry: a flood of them
cannot grow the log).
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from facewarden.errors import AuthenticationError, NotFoundError, RateLimitedError
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.credentials import KEY_RE, MAX_KEY_DAYS, key_hash, new_api_key
from facewarden.service.names import is_typed_text
from facewarden.service.ratelimit import FailureLimiter, client_key
from facewarden.service.records import invalid_input
from facewarden.service.revocation import APPLIED as REVOCATIONS_APPLIED
from facewarden.service.roles import Principal, check_role
from facewarden.store.base import ApiKeyRow

__all__ = ["ApiKey", "ApiKeys", "IssuedKey"]

logger = logging.getLogger(__name__)


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


class ApiKeys:
    """Issue, list, revoke and check API keys; :class:`~facewarden.service.access.Access` has it."""

    _ctx: Context
    _audit: AuditLog

    def create_api_key(
        self, name: str, role: str, *, expires_in_days: int | None = None
    ) -> IssuedKey:
        """Issue an API key; its full value is in the result, and nowhere else, ever.

        Raises:
            InvalidInputError: an empty or overlong name, an unknown role, a bad expiry.
        """
        name = name.strip()
        if not 0 < len(name) <= 64 or not is_typed_text(name):
            raise invalid_input("an API key needs a name of 1 to 64 printable characters")
        check_role(role)
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
        """Revoke a key at once; it cannot be used again, not even after a restore.

        The revocation is also recorded in the revocation ledger
        (:mod:`facewarden.service.revocation`).

        Raises:
            NotFoundError: no such key, or it is revoked already.
        """
        with self._ctx.writing() as tx:
            if not tx.revoke_api_key(key_id, self._ctx.clock()):
                raise NotFoundError(f"no active API key {key_id!r}")
            # Before the commit, outside the database: a restore cannot revive the key.
            tx.set_meta(REVOCATIONS_APPLIED, str(self._ctx.keyring.revocations.revoke_key(key_id)))
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
        address = f"addr:{client_key(client)}"  # an IPv6 client by its /64
        match = KEY_RE.match(presented)
        row = self._ctx.store.get_api_key(match.group(1)) if match else None
        reason = self._rejection(row, match.group(2) if match else "")
        if row is None or reason:
            # A valid key is never locked out (a neighbour behind the same
            # address cannot lock a client out); a bad one over the limit is
            # refused without another audit entry (a flood must not grow the
            # log), but logged.
            try:
                limiter.attempt(address, what="API keys")
            except RateLimitedError:
                logger.warning("bad API key refused during a lockout of %s", client)
                raise
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
