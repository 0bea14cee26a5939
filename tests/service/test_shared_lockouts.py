"""Sign-in and API-key lockouts shared by every process on one database (service/ratelimit.py).

Two deployments opened on one database, each with its own store
connection (as two worker processes or two hosts have), count into the same
lockouts, on SQLite and on PostgreSQL: guesses spread over workers gain
nothing. Concurrent attempts run in threads, each on a connection of its own,
so the database (not a lock in this process) is what keeps them apart.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from facewarden.config import Settings
from facewarden.errors import AuthenticationError, RateLimitedError
from facewarden.privacy import ManualClock
from facewarden.service import Warden
from facewarden.service.ratelimit import AuthLimiter, FailureLimiter, StoreCounters
from facewarden.store import DB_NAME, Store, open_sqlite
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.store.postgres import open_postgres

from .conftest import make_settings

PASSWORD = "a long enough passphrase"
STRANGER = "203.0.113.9"
WINDOW = timedelta(minutes=15)


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = None
    if request.param == "postgres":
        server: EmbeddedPostgres = request.getfixturevalue("pg_server")
        url = server.create_database(f"l_{secrets.token_hex(6)}")
    return make_settings(
        tmp_path,
        database_url=url,
        login_max_failures=3,
        login_max_failures_per_address=50,
        api_key_max_failures=4,
        lockout_seconds=int(WINDOW.total_seconds()),
    )


@pytest.fixture
def wardens(settings: Settings, clock: ManualClock) -> Iterator[tuple[Warden, Warden]]:
    """Two deployments on one database: two processes' worth of connections and limiters."""
    first = Warden.open(settings, clock=clock, create=True, actor="test:one")
    second = Warden.open(settings, clock=clock, actor="test:two")
    try:
        yield first, second
    finally:
        second.close()
        first.close()


def _open_store(settings: Settings) -> Store:
    if settings.database_url is not None:
        return open_postgres(settings.database_url)
    return open_sqlite(settings.data_dir / DB_NAME)


def _lockout_rows(settings: Settings) -> list[tuple[object, ...]]:
    """The table as a thief would read it, on a connection of its own."""
    query = "SELECT * FROM lockouts"
    if settings.database_url is not None:
        with psycopg.connect(settings.database_url) as pg:
            return list(pg.execute(query).fetchall())
    conn = sqlite3.connect(settings.data_dir / DB_NAME)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def test_sign_in_failures_split_over_two_processes_lock_at_the_limit(
    wardens: tuple[Warden, Warden], clock: ManualClock
) -> None:
    one, two = wardens
    one.access.create_user("alice", PASSWORD, "operator")
    limiters = (one.auth_limiter().logins, two.auth_limiter().logins)
    turns = [(one, limiters[0]), (two, limiters[1])]
    for attempt in range(3):  # one, two, one: the limit is 3 in all, not 3 each
        warden, limiter = turns[attempt % 2]
        with pytest.raises(AuthenticationError):
            warden.access.login("alice", "wrong guess", client=STRANGER, limiter=limiter)
    for warden, limiter in turns:  # either process refuses, even the right password
        with pytest.raises(RateLimitedError) as locked:
            warden.access.login("alice", PASSWORD, client=STRANGER, limiter=limiter)
        assert 0 < locked.value.retry_after <= WINDOW.total_seconds()
    refused = [e for e in one.audit.entries(limit=100) if e.outcome == "locked"]
    assert [(e.object_id, e.details["client"]) for e in refused] == [("alice", STRANGER)] * 2
    # A stranger locks only themselves out: alice signs in from her own address.
    assert two.access.login("alice", PASSWORD, client="192.0.2.1", limiter=limiters[1])
    # The lock ends for both; the next one, again split, lasts twice as long.
    clock.advance(WINDOW + timedelta(minutes=1))
    for attempt in range(3):
        warden, limiter = turns[(attempt + 1) % 2]
        with pytest.raises(AuthenticationError):
            warden.access.login("alice", "wrong again", client=STRANGER, limiter=limiter)
    with pytest.raises(RateLimitedError) as doubled:
        one.access.login("alice", PASSWORD, client=STRANGER, limiter=limiters[0])
    assert WINDOW.total_seconds() < doubled.value.retry_after <= 2 * WINDOW.total_seconds()
    clock.advance(2 * WINDOW + timedelta(minutes=1))
    assert two.access.login("alice", PASSWORD, client=STRANGER, limiter=limiters[1])
    # The success cleared the pair everywhere: two more failures do not lock it.
    for warden, limiter in turns:
        with pytest.raises(AuthenticationError):
            warden.access.login("alice", "wrong once more", client=STRANGER, limiter=limiter)
    assert one.access.login("alice", PASSWORD, client=STRANGER, limiter=limiters[0])


def test_bad_api_keys_split_over_two_processes_lock_the_address(
    wardens: tuple[Warden, Warden],
) -> None:
    one, two = wardens
    turns = [(one, one.auth_limiter().api_keys), (two, two.auth_limiter().api_keys)]
    for attempt in range(4):
        warden, limiter = turns[attempt % 2]
        with pytest.raises(AuthenticationError):
            warden.access.authenticate_key("fwk_bad", client=STRANGER, limiter=limiter)
    for warden, limiter in turns:
        with pytest.raises(RateLimitedError):
            warden.access.authenticate_key("fwk_bad", client=STRANGER, limiter=limiter)
    issued = one.access.create_api_key("gate", "operator")  # a valid key is never locked out
    assert two.access.authenticate_key(issued.secret, client=STRANGER, limiter=turns[1][1])


def test_concurrent_attempts_all_count_and_a_burst_passes_only_up_to_the_limit(
    settings: Settings, wardens: tuple[Warden, Warden], clock: ManualClock
) -> None:
    # Six connections, 30 attempts at once against one key with a limit of 20:
    # a lost count would let a 21st through, a check-then-count race many more.
    secret = secrets.token_bytes(32)
    stores = [_open_store(settings) for _ in range(6)]
    try:
        limiters = [
            FailureLimiter(20, WINDOW, clock=clock, counters=StoreCounters(s, secret, "logins"))
            for s in stores
        ]

        def attempt(turn: int) -> bool:
            try:
                limiters[turn % len(limiters)].attempt(f"pair:{STRANGER}|alice", what="sign-ins")
            except RateLimitedError:
                return False
            return True

        with ThreadPoolExecutor(max_workers=6) as pool:
            passed = list(pool.map(attempt, range(30)))
        assert passed.count(True) == 20
        assert not attempt(0) and not attempt(1)
    finally:
        for store in stores:
            store.close()


def test_the_table_names_no_address_or_account_and_stays_bounded(
    settings: Settings, wardens: tuple[Warden, Warden], clock: ManualClock
) -> None:
    one, two = wardens
    one.access.create_user("alice", PASSWORD, "operator")
    limiter = two.auth_limiter().logins
    with pytest.raises(AuthenticationError):
        two.access.login("alice", "wrong guess", client=STRANGER, limiter=limiter)
    rows = _lockout_rows(settings)
    assert len(rows) == 2  # the pair and the address
    for row in rows:
        text = repr(row)
        assert STRANGER not in text and "alice" not in text and "pair:" not in text
        assert len(str(row[0])) == 64 and int(str(row[0]), 16) >= 0  # an HMAC, in hex
    # Never under an empty or short key: IPv4 addresses times account names could
    # be hashed by whoever holds a copy of the table, and its rows read back.
    with pytest.raises(ValueError, match="secret"):
        AuthLimiter.from_settings(settings, clock=clock, store=one.store)
    with pytest.raises(ValueError, match="secret"):
        StoreCounters(one.store, b"short", "logins")
    # At most max_keys rows; the soonest forgotten go first.
    capped = FailureLimiter(
        3, WINDOW, clock=clock, counters=StoreCounters(one.store, b"k" * 32, "logins", 5)
    )
    for n in range(12):
        clock.advance(timedelta(seconds=1))
        capped.attempt(f"addr:198.51.100.{n}", what="sign-ins")
    assert len(_lockout_rows(settings)) == 5
    # Once forgotten, rows go at the next write.
    clock.advance(WINDOW)
    capped.attempt("addr:198.51.100.200", what="sign-ins")
    assert len(_lockout_rows(settings)) == 1
