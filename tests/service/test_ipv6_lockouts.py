"""An IPv6 client cannot dodge the per-address limits by rotating through its /64.

service/ratelimit.py ``client_key``: IPv6 clients count by their /64 network,
IPv4-mapped IPv6 addresses by the IPv4 address they carry, IPv4 clients by
their address. The limits themselves are unchanged: a different /64 or a
different IPv4 address is still somebody else, and the lockout table still
holds only keyed hashes. Real deployments on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from facewarden.config import Settings
from facewarden.errors import AuthenticationError, RateLimitedError
from facewarden.privacy import ManualClock
from facewarden.service import Warden
from facewarden.service.ratelimit import client_key
from facewarden.store import DB_NAME
from facewarden.store._pg_embedded import EmbeddedPostgres

from .conftest import make_settings

PASSWORD = "a long enough passphrase"
PREFIX = "2001:db8:4:7"  # a /64 of the documentation range, one subscriber's


@pytest.mark.parametrize(
    ("client", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("::ffff:cb00:7109", "203.0.113.9"),  # the same mapped address, written in hex
        (f"{PREFIX}::1", f"{PREFIX}::/64"),
        (f"{PREFIX}:ffff:ffff:ffff:ffff", f"{PREFIX}::/64"),
        (f"{PREFIX.upper()}:0:0:0:2a", f"{PREFIX}::/64"),
        (f"[{PREFIX}::9]", f"{PREFIX}::/64"),  # bracketed, as in a URL
        (f"{PREFIX}::9%eth0", f"{PREFIX}::/64"),  # the zone is the server's link
        ("2001:db8:4:8::1", "2001:db8:4:8::/64"),  # the next /64: someone else
        ("::1", "::/64"),
        ("unknown", "unknown"),  # no address at all: kept as it is
        ("proxy.example", "proxy.example"),
    ],
)
def test_client_key(client: str, key: str) -> None:
    assert client_key(client) == key


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> Iterator[tuple[Warden, Settings]]:
    url = None
    if request.param == "postgres":
        server: EmbeddedPostgres = request.getfixturevalue("pg_server")
        url = server.create_database(f"v6_{secrets.token_hex(6)}")
    settings = make_settings(
        tmp_path,
        database_url=url,
        login_max_failures=3,
        login_max_failures_per_address=5,
        api_key_max_failures=4,
    )
    warden = Warden.open(settings, clock=clock, create=True, actor="test")
    try:
        yield warden, settings
    finally:
        warden.close()


def _lockout_table_text(settings: Settings) -> str:
    query = "SELECT * FROM lockouts"
    if settings.database_url is not None:
        with psycopg.connect(settings.database_url) as pg:
            rows = pg.execute(query).fetchall()
    else:
        conn = sqlite3.connect(settings.data_dir / DB_NAME)
        try:
            rows = conn.execute(query).fetchall()
        finally:
            conn.close()
    return repr(rows)


def test_a_new_address_of_the_same_64_for_each_guess_is_locked_all_the_same(
    deployment: tuple[Warden, Settings],
) -> None:
    warden, settings = deployment
    warden.access.create_user("alice", PASSWORD, "operator")
    limiter = warden.auth_limiter().logins
    rotating = [f"{PREFIX}::{n:x}:{secrets.randbelow(1 << 16):x}" for n in range(1, 5)]
    for client in rotating[:3]:  # three hosts of one /64, one guess each
        with pytest.raises(AuthenticationError):
            warden.access.login("alice", "a wrong guess", client=client, limiter=limiter)
    # A fourth address of the /64 is the same client: the (address, account) pair is locked.
    with pytest.raises(RateLimitedError):
        warden.access.login("alice", PASSWORD, client=rotating[3], limiter=limiter)
    # Audited with the address the request really came from.
    refused = [e for e in warden.audit.entries(limit=100) if e.outcome == "locked"]
    assert [e.details["client"] for e in refused] == [rotating[3]]
    # The next /64 and an IPv4 client are somebody else.
    assert warden.access.login("alice", PASSWORD, client="2001:db8:4:8::1", limiter=limiter)
    assert warden.access.login("alice", PASSWORD, client="192.0.2.1", limiter=limiter)
    # Keys are stored as keyed hashes only: neither the prefix nor an address is in the table.
    table = _lockout_table_text(settings)
    assert PREFIX not in table and "2001:db8" not in table and "alice" not in table


def test_one_64_cannot_try_every_account_from_fresh_addresses(
    deployment: tuple[Warden, Settings],
) -> None:
    warden, _ = deployment
    names = ["alice", "bob", "carol", "dave", "erin", "frank"]
    for name in names:
        warden.access.create_user(name, PASSWORD, "operator")
    limiter = warden.auth_limiter().logins
    for n, name in enumerate(names[:5]):  # five accounts, five addresses: the address limit
        with pytest.raises(AuthenticationError):
            warden.access.login(name, "guess", client=f"{PREFIX}::{n + 1}", limiter=limiter)
    with pytest.raises(RateLimitedError):
        warden.access.login("frank", PASSWORD, client=f"{PREFIX}:1:2:3:4", limiter=limiter)
    assert warden.access.login("frank", PASSWORD, client="2001:db8:5::1", limiter=limiter)


def test_an_ipv4_client_is_one_client_on_either_socket(
    deployment: tuple[Warden, Settings],
) -> None:
    warden, _ = deployment
    warden.access.create_user("alice", PASSWORD, "operator")
    limiter = warden.auth_limiter().logins
    for client in ["198.51.100.7", "::ffff:198.51.100.7", "198.51.100.7"]:
        with pytest.raises(AuthenticationError):
            warden.access.login("alice", "a wrong guess", client=client, limiter=limiter)
    with pytest.raises(RateLimitedError):
        warden.access.login("alice", PASSWORD, client="::ffff:198.51.100.7", limiter=limiter)
    # Its IPv4 neighbour is not: an IPv4 address is never widened to a network.
    assert warden.access.login("alice", PASSWORD, client="198.51.100.8", limiter=limiter)


def test_bad_api_keys_from_rotating_ipv6_addresses_lock_the_64(
    deployment: tuple[Warden, Settings],
) -> None:
    warden, _ = deployment
    limiter = warden.auth_limiter().api_keys
    for n in range(4):
        with pytest.raises(AuthenticationError):
            warden.access.authenticate_key("fwk_bad", client=f"{PREFIX}::{n + 1}", limiter=limiter)
    with pytest.raises(RateLimitedError):
        warden.access.authenticate_key("fwk_bad", client=f"{PREFIX}::ff", limiter=limiter)
    issued = warden.access.create_api_key("gate", "operator")  # a valid key is never locked out
    assert warden.access.authenticate_key(issued.secret, client=f"{PREFIX}::1", limiter=limiter)
    with pytest.raises(AuthenticationError):  # another /64 is not locked
        warden.access.authenticate_key("fwk_bad", client="2001:db8:4:9::1", limiter=limiter)


def test_a_flood_from_fresh_addresses_of_a_locked_64_is_one_entry_and_one_summary(
    deployment: tuple[Warden, Settings], clock: ManualClock
) -> None:
    """Refusals during a lock are audited once per lock and client (refusals.py): per /64 too."""
    warden, settings = deployment
    warden.access.create_user("alice", PASSWORD, "operator")
    limiter = warden.auth_limiter().logins
    for n in range(3):
        with pytest.raises(AuthenticationError):
            warden.access.login("alice", "a wrong guess", client=f"{PREFIX}::{n}", limiter=limiter)
    for n in range(40):  # every refused try from an address never seen before
        with pytest.raises(RateLimitedError):
            warden.access.login("alice", PASSWORD, client=f"{PREFIX}:9:{n}::1", limiter=limiter)
    locked = [e for e in warden.audit.entries(limit=1000) if e.outcome == "locked"]
    assert [(e.details["reason"], e.details["client"]) for e in locked] == [
        ("locked_out", f"{PREFIX}:9:0::1")  # the first entry names the address itself
    ]
    warden.close()
    with Warden.open(settings, clock=clock, actor="test:reader") as reader:
        summaries = [
            (e.details["reason"], e.details["client"], e.details.get("refused"))
            for e in reader.audit.entries(limit=1000)
            if e.outcome == "locked"
        ]
    assert summaries == [
        ("locked_out", f"{PREFIX}:9:0::1", None),
        ("locked_out_summary", f"{PREFIX}::/64", 40),
    ]
