"""Users, sessions, API keys and their rate limits.

Service modules: access.py, sign_ins.py, api_keys.py, roles.py, ratelimit.py.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from facewarden.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
)
from facewarden.privacy import ManualClock
from facewarden.service import Warden
from facewarden.service.credentials import csrf_token_for
from facewarden.service.ratelimit import FailureLimiter
from facewarden.service.roles import expand_roles

PASSWORD = "a long enough passphrase"


@pytest.fixture
def limiter(clock: ManualClock) -> FailureLimiter:
    return FailureLimiter(3, timedelta(minutes=15), clock=clock)


def _actions(warden: Warden) -> list[tuple[str, str]]:
    return [(e.action, e.outcome) for e in warden.audit.entries(limit=100)]


def test_bootstrap_creates_one_admin_with_fresh_secrets(warden: Warden) -> None:
    first = warden.access.bootstrap()
    assert first is not None and first.username == "admin"
    assert len(first.password) >= 20 and first.api_key.startswith("fwk_")
    assert warden.access.bootstrap() is None  # an admin exists: nothing new, nothing printed
    assert warden.access.has_admin()
    stored = warden.store.get_user("admin")
    assert stored is not None and first.password not in stored.password_hash
    assert stored.password_hash.startswith("$argon2id$")
    [key] = warden.store.list_api_keys()
    assert first.api_key.split("_")[2] not in key.secret_hash
    assert "password" not in repr(first) and first.api_key not in repr(first)


def test_login_opens_a_session_with_a_csrf_token(
    warden: Warden, limiter: FailureLimiter, clock: ManualClock
) -> None:
    warden.access.create_user("alice", PASSWORD, "operator")
    session = warden.access.login("alice", PASSWORD, client="203.0.113.9", limiter=limiter)
    assert session.principal.actor == "user:alice" and session.principal.role == "operator"
    assert session.csrf_token == csrf_token_for(session.token) != session.token
    assert warden.access.session(session.token).principal == session.principal
    assert warden.store.get_session(session.token) is None  # stored hashed only
    clock.advance(timedelta(minutes=warden.settings.session_minutes))
    with pytest.raises(AuthenticationError):
        warden.access.session(session.token)
    assert ("auth.login", "ok") in _actions(warden)


def test_failed_logins_are_audited_and_rate_limited(
    warden: Warden, limiter: FailureLimiter, clock: ManualClock
) -> None:
    warden.access.create_user("alice", PASSWORD, "operator")
    for attempt in ("wrong one", "wrong two", "wrong three"):
        with pytest.raises(AuthenticationError, match="wrong username or password"):
            warden.access.login("alice", attempt, client="198.51.100.7", limiter=limiter)
    with pytest.raises(RateLimitedError) as limited:
        warden.access.login("alice", PASSWORD, client="198.51.100.7", limiter=limiter)
    assert 0 < limited.value.retry_after <= 15 * 60
    with pytest.raises(AuthenticationError):  # an unknown user answers the same
        warden.access.login("mallory", PASSWORD, client="192.0.2.2", limiter=limiter)
    denied = [e for e in warden.audit.entries(limit=100) if e.outcome == "denied"]
    assert len(denied) == 4 and all("wrong" not in str(e.details) for e in denied)
    clock.advance(timedelta(minutes=16))
    assert warden.access.login("alice", PASSWORD, client="198.51.100.7", limiter=limiter)


def test_a_stranger_locks_out_only_themselves_and_their_attempts_are_audited(
    warden: Warden, limiter: FailureLimiter, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 13 finding 10, the attack: fail against someone else's account until it locks.
    warden.access.create_user("alice", PASSWORD, "operator")
    stranger = "198.51.100.7"
    for attempt in ("wrong one", "wrong two", "wrong three"):
        with pytest.raises(AuthenticationError):
            warden.access.login("alice", attempt, client=stranger, limiter=limiter)
    caplog.set_level(logging.WARNING, logger="facewarden.service.sign_ins")
    for _ in range(2):  # attempts during the lockout, even with the right password
        with pytest.raises(RateLimitedError):
            warden.access.login("alice", PASSWORD, client=stranger, limiter=limiter)
    # The lock's first refusal is audited at once; the second only counted (see refusals.py).
    locked = [e for e in warden.audit.entries(limit=100) if e.outcome == "locked"]
    assert [(e.action, e.object_id, e.details["client"], e.details["reason"]) for e in locked] == [
        ("auth.login", "alice", stranger, "locked_out")
    ]
    assert all(PASSWORD not in str(e.details) for e in locked)
    refused = [r for r in caplog.records if "lockout" in r.getMessage()]
    assert len(refused) == 2 and all(stranger in r.getMessage() for r in refused)
    assert PASSWORD not in caplog.text
    # Alice, from her own address, signs in as ever.
    assert warden.access.login("alice", PASSWORD, client="192.0.2.1", limiter=limiter)
    # Backoff: once the first lock (15 minutes) is over, the next one lasts twice as long.
    clock.advance(timedelta(minutes=16))
    for attempt in ("wrong four", "wrong five", "wrong six"):
        with pytest.raises(AuthenticationError):
            warden.access.login("alice", attempt, client=stranger, limiter=limiter)
    with pytest.raises(RateLimitedError) as again:
        warden.access.login("alice", PASSWORD, client=stranger, limiter=limiter)
    assert 15 * 60 < again.value.retry_after <= 30 * 60
    # The second lock's first refusal is audited, with the first lock's summary: 2 refused.
    locked = [e for e in warden.audit.entries(limit=100) if e.outcome == "locked"]
    assert [(e.details["reason"], e.details.get("refused")) for e in locked] == [
        ("locked_out", None),
        ("locked_out", None),
        ("locked_out_summary", 2),
    ]
    clock.advance(timedelta(minutes=31))
    assert warden.access.login("alice", PASSWORD, client=stranger, limiter=limiter)


def test_one_address_cannot_try_every_account(warden: Warden, clock: ManualClock) -> None:
    limiter = FailureLimiter(3, timedelta(minutes=15), clock=clock, limits={"addr:": 5})
    for name in ("alice", "bob", "carol"):
        warden.access.create_user(name, PASSWORD, "operator")
    for name in ("alice", "alice", "bob", "bob", "carol"):
        with pytest.raises(AuthenticationError):
            warden.access.login(name, "guess", client="198.51.100.7", limiter=limiter)
    with pytest.raises(RateLimitedError):  # five failures from the address, over three accounts
        warden.access.login("carol", PASSWORD, client="198.51.100.7", limiter=limiter)
    for name in ("alice", "bob", "carol"):
        assert warden.access.login(name, PASSWORD, client="192.0.2.1", limiter=limiter)


def test_api_keys_expire_and_revoke(
    warden: Warden, limiter: FailureLimiter, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="facewarden.service.api_keys")
    issued = warden.access.create_api_key("gate", "operator", expires_in_days=1)
    principal = warden.access.authenticate_key(issued.secret, client="c", limiter=limiter)
    assert principal.actor == f"key:{issued.key.key_id}" and principal.role == "operator"
    other = warden.access.create_api_key("door", "auditor")
    warden.access.revoke_api_key(other.key.key_id)
    with pytest.raises(NotFoundError):
        warden.access.revoke_api_key(other.key.key_id)
    clock.advance(timedelta(days=1))
    tampered = issued.secret[:-1] + ("0" if issued.secret[-1] != "0" else "1")
    for presented in (issued.secret, other.secret, tampered):
        with pytest.raises(AuthenticationError):
            warden.access.authenticate_key(presented, client="c", limiter=limiter)
    with pytest.raises(RateLimitedError):
        warden.access.authenticate_key("fwk_bad", client="c", limiter=limiter)
    # Refused without another audit entry, but logged (promise 5: bad keys are logged).
    refused = [r.getMessage() for r in caplog.records if "lockout" in r.getMessage()]
    assert refused == ["bad API key refused during a lockout of c"]
    reasons = [
        e.details["reason"] for e in warden.audit.entries(limit=100) if e.outcome == "denied"
    ]
    assert reasons == ["expired", "revoked", "wrong_secret"]
    listed = {k.key_id: k.revoked for k in warden.access.api_keys()}
    assert listed == {issued.key.key_id: False, other.key.key_id: True}


def test_users_are_disabled_not_deleted(warden: Warden, limiter: FailureLimiter) -> None:
    warden.access.create_user("alice", PASSWORD, "admin")
    warden.access.create_user("bob", PASSWORD, "admin")
    session = warden.access.login("bob", PASSWORD, client="c", limiter=limiter)
    as_alice = warden.with_actor("user:alice")
    as_alice.access.disable_user("bob")
    with pytest.raises(AuthenticationError):
        warden.access.session(session.token)
    with pytest.raises(ConflictError):
        warden.access.create_user("bob", PASSWORD, "operator")  # names are never reused
    with pytest.raises(ConflictError, match="own account"):
        as_alice.access.disable_user("alice")
    with pytest.raises(ConflictError, match="last admin"):
        warden.access.disable_user("alice")
    with pytest.raises(NotFoundError):
        warden.access.disable_user("bob")


@pytest.mark.parametrize(
    ("username", "password", "role"),
    [
        ("Alice", PASSWORD, "operator"),
        ("al ice", PASSWORD, "operator"),
        ("alice", "short", "operator"),
        ("alice", PASSWORD, "superuser"),
    ],
)
def test_bad_user_values_are_refused(
    warden: Warden, username: str, password: str, role: str
) -> None:
    with pytest.raises(InvalidInputError):
        warden.access.create_user(username, password, role)


def test_password_change_ends_sessions(warden: Warden, limiter: FailureLimiter) -> None:
    warden.access.create_user("alice", PASSWORD, "auditor")
    session = warden.access.login("alice", PASSWORD, client="c", limiter=limiter)
    with pytest.raises(AuthenticationError):
        warden.access.change_password("alice", "not the password", "another long passphrase")
    warden.access.change_password("alice", PASSWORD, "another long passphrase")
    with pytest.raises(AuthenticationError):
        warden.access.session(session.token)
    assert warden.access.login("alice", "another long passphrase", client="c", limiter=limiter)


def test_wrong_current_password_is_rate_limited_and_audited(
    warden: Warden, limiter: FailureLimiter
) -> None:
    # A stolen session cookie must not let its holder guess the password at leisure.
    warden.access.create_user("alice", PASSWORD, "auditor")
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            warden.access.change_password(
                "alice", "a wrong guess here", "another long passphrase", limiter=limiter
            )
    with pytest.raises(RateLimitedError):
        warden.access.change_password("alice", PASSWORD, "another long passphrase", limiter=limiter)
    # The limit is the account's: signing in is locked out as well.
    with pytest.raises(RateLimitedError):
        warden.access.login("alice", PASSWORD, client="c", limiter=limiter)
    assert _actions(warden).count(("user.password", "denied")) == 3
    assert ("user.password", "ok") not in _actions(warden)
    # The attempt refused during the lockout is a security event too, audited like a
    # sign-in refused during one (and, like it, without the password it carried).
    locked = [e for e in warden.audit.entries(limit=100) if e.action == "user.password"]
    assert [(e.outcome, e.object_id) for e in locked][-1] == ("locked", "alice")
    assert all(PASSWORD not in str(e.details) for e in locked)


def test_admin_includes_operator_and_auditor_only() -> None:
    assert expand_roles(("operator",)) == {"operator", "admin"}
    assert expand_roles(("auditor",)) == {"auditor", "admin"}
    assert expand_roles(("investigator",)) == {"investigator"}
    assert expand_roles(("analyst",)) == {"analyst"}
