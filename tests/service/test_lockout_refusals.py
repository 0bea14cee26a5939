"""A flood of sign-ins during a lockout is a bounded number of writes, and still leaves a trace.

On SQLite and on PostgreSQL, with the lockouts in the database (as a server
keeps them): once an address is locked out of an account, hundreds more
attempts (the right password among them) are refused with no write
transaction but the lock's first audit entry; the count comes into the audit
log as one summary once the lock is over (with the next lock's first entry)
or when the deployment closes. The lockout itself is as strict as before.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from facewarden.config import Settings
from facewarden.errors import AuthenticationError, RateLimitedError
from facewarden.privacy import ManualClock
from facewarden.privacy.audit import AuditEntry
from facewarden.service import Warden
from facewarden.service.ratelimit import FailureLimiter
from facewarden.store._pg_embedded import EmbeddedPostgres

from .conftest import make_settings

PASSWORD = "a long enough passphrase"
STRANGER = "203.0.113.9"
FLOOD = 300


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = None
    if request.param == "postgres":
        server: EmbeddedPostgres = request.getfixturevalue("pg_server")
        url = server.create_database(f"r_{secrets.token_hex(6)}")
    return make_settings(tmp_path, database_url=url, login_max_failures=3, lockout_seconds=900)


class WriteCount:
    """Counts the store's write transactions, every one of which still runs as written."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[Any]]) -> None:
        self._transaction = transaction
        self.count = 0

    def __call__(self) -> AbstractContextManager[Any]:
        self.count += 1
        return self._transaction()


@pytest.fixture
def opened(
    settings: Settings, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Warden, FailureLimiter, WriteCount]]:
    """A deployment with alice, its database-backed sign-in limiter, and a count of its writes."""
    warden = Warden.open(settings, clock=clock, create=True, actor="test:server")
    try:
        warden.access.create_user("alice", PASSWORD, "operator")
        writes = WriteCount(warden.store.transaction)
        monkeypatch.setattr(warden.store, "transaction", writes)
        yield warden, warden.auth_limiter().logins, writes
    finally:
        warden.close()


def _locked(warden: Warden) -> list[AuditEntry]:
    return [e for e in warden.audit.entries(limit=1000) if e.outcome == "locked"]


def _fail_until_locked(warden: Warden, limiter: FailureLimiter) -> None:
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            warden.access.login("alice", "a wrong guess", client=STRANGER, limiter=limiter)


def _flood(warden: Warden, limiter: FailureLimiter, count: int) -> None:
    for n in range(count):
        password = PASSWORD if n % 2 else "another wrong guess"
        with pytest.raises(RateLimitedError):
            warden.access.login("alice", password, client=STRANGER, limiter=limiter)


def test_a_flood_during_a_lockout_is_one_write_and_one_summary(
    opened: tuple[Warden, FailureLimiter, WriteCount], clock: ManualClock
) -> None:
    warden, limiter, writes = opened
    _fail_until_locked(warden, limiter)
    writes.count = 0
    _flood(warden, limiter, FLOOD)
    # The attempt that sets the lock (one limiter write) and the lock's first audit entry;
    # before, every refused attempt was a limiter write and an audit entry (600 in all).
    assert writes.count == 2
    [first] = _locked(warden)
    assert first.details["reason"] == "locked_out" and first.details["client"] == STRANGER
    assert first.object_id == "alice" and 0 < int(first.details["locked_for_s"]) <= 900

    # After the lock: three more failures lock again (for twice as long), and the
    # next lock's first refusal brings the first lock's summary along.
    clock.advance(timedelta(seconds=901))
    _fail_until_locked(warden, limiter)
    writes.count = 0
    _flood(warden, limiter, 50)
    assert writes.count == 2  # the lock, then its first entry with the summary before it
    summaries = [e for e in _locked(warden) if e.details["reason"] == "locked_out_summary"]
    assert [(s.object_id, s.details["client"], s.details["refused"]) for s in summaries] == [
        ("alice", STRANGER, FLOOD)
    ]
    assert summaries[0].details["first_at"] <= summaries[0].details["last_at"]


def test_the_count_of_a_lock_under_way_is_written_when_the_deployment_closes(
    settings: Settings, clock: ManualClock
) -> None:
    with Warden.open(settings, clock=clock, create=True, actor="test:server") as warden:
        warden.access.create_user("alice", PASSWORD, "operator")
        limiter = warden.auth_limiter().logins
        _fail_until_locked(warden, limiter)
        _flood(warden, limiter, 40)
        assert [e.details["reason"] for e in _locked(warden)] == ["locked_out"]
    with Warden.open(settings, clock=clock, actor="test:reader") as warden:
        reasons = [(e.details["reason"], e.details.get("refused")) for e in _locked(warden)]
        assert reasons == [("locked_out", None), ("locked_out_summary", 40)]
        assert warden.audit.verify().ok


def test_the_lockout_is_as_strict_as_before(
    opened: tuple[Warden, FailureLimiter, WriteCount], clock: ManualClock
) -> None:
    """Refusing after a read alone changes no outcome: the right password waits out the lock."""
    warden, limiter, _ = opened
    _fail_until_locked(warden, limiter)
    _flood(warden, limiter, 10)
    clock.advance(timedelta(seconds=899))
    with pytest.raises(RateLimitedError) as refused:
        warden.access.login("alice", PASSWORD, client=STRANGER, limiter=limiter)
    assert refused.value.retry_after == 1
    assert warden.access.login("alice", PASSWORD, client="192.0.2.1", limiter=limiter)
    clock.advance(timedelta(seconds=2))
    assert warden.access.login("alice", PASSWORD, client=STRANGER, limiter=limiter)


def test_a_flood_of_wrong_current_passwords_is_bounded_too(
    opened: tuple[Warden, FailureLimiter, WriteCount],
) -> None:
    warden, limiter, writes = opened
    alice = warden.with_actor("user:alice").access
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            alice.change_password(
                "alice", "a wrong guess", "a new long passphrase", limiter=limiter
            )
    writes.count = 0
    for _ in range(100):
        with pytest.raises(RateLimitedError):
            alice.change_password("alice", PASSWORD, "a new long passphrase", limiter=limiter)
    assert writes.count == 2  # the lock, and its first audit entry
    locked = [e for e in _locked(warden) if e.action == "user.password"]
    assert [(e.object_id, e.details["reason"]) for e in locked] == [("alice", "locked_out")]
