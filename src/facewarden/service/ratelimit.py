"""Counting failed sign-ins and bad API keys, and refusing for a while when there are too many.

The counts live in the deployment's database (:class:`StoreCounters`), so
every worker process and every host on one database shares them: spreading
guesses over workers gains nothing. Each update is one write transaction
(SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's writer advisory lock), so two
attempts at once both count. A key is stored only as a keyed hash: a stolen
database does not list who tried to sign in from where. Where there is no
store, :class:`MemoryCounters` keeps the same counts in one process.

Each key (``pair:203.0.113.9|alice``, ``addr:203.0.113.9``) counts attempts
in a window that starts at its first one. An attempt counts *before* the
password or key is checked, and a success gives it back, so a burst of
parallel attempts cannot all pass while the first ones are being checked.
The attempt after a key's limit locks the key for the window and is
refused; each further lockout of the same key while it is remembered
doubles the lock (backoff), up to a day. Sign-ins are counted per
(address, account) pair, so a stranger who fails against an account locks
only themselves out of it, and per address with a higher limit, so one
address cannot try every account. Storage is bounded: rows are deleted once
forgotten, and beyond ``max_keys`` the soonest forgotten go first. An
attempt while a key is locked is refused after a read alone, without a write
transaction: a flood during a lock does not load the single writer.

An address in a key is the one :func:`client_key` gives, the only place
where a client's address becomes a limiter's: an IPv4 address as it is, an
IPv6 address by its /64 network. One IPv6 subscriber (a home, a phone, a
rented server) is handed at least a /64, 2^64 addresses it may send from at
will; counted per address, a new one for each guess would never reach a
limit. A /64 is the smallest block routed to one subscriber, so keying by
it locks no stranger out that is not already behind the same router. (Who
holds a /56 or a /48 has 2^8 or 2^16 of them, each limited alone: that many
times one network's guesses, not 2^64 times.)
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from facewarden.config import Settings
from facewarden.errors import RateLimitedError
from facewarden.privacy.clock import Clock, utc_now
from facewarden.store.access import LockoutRow
from facewarden.store.base import Store

__all__ = ["AuthLimiter", "FailureLimiter", "MemoryCounters", "StoreCounters", "client_key"]

_MAX_KEYS = 100_000
_MAX_LOCK = timedelta(days=1)
_MIN_SECRET = 16
_IPV6_SUBSCRIBER_PREFIX = 64

Rows = dict[str, LockoutRow | None]
"""The rows of the keys one update touches, by key; the update replaces them (None: forget)."""


def client_key(client: str) -> str:
    """The part of a client's address that its limits count by.

    An IPv4 address is itself; an IPv6 address is its /64 network
    (``2001:db8:1:2::/64``), whatever its host half or zone; an IPv4-mapped
    IPv6 address (``::ffff:192.0.2.1``, how a dual-stack socket shows an IPv4
    client) is the IPv4 address it carries, so one client is one key on
    either socket. Anything that is no IP address (``unknown``, a Unix
    socket's name) is kept as it is.

    Args:
        client: the address the request came from (after trusted proxies).
    """
    text = client.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        # The zone (``%eth0``) names a link of the server's, not the client.
        unscoped = ipaddress.IPv6Address(address.packed)
        return str(ipaddress.IPv6Network((unscoped, _IPV6_SUBSCRIBER_PREFIX), strict=False))
    return str(address)


class Counters(Protocol):
    """Where a limiter's rows live; ``update`` runs ``step`` on them atomically."""

    def update(self, keys: tuple[str, ...], now: datetime, step: Callable[[Rows], float]) -> float:
        """Hand the keys' rows to ``step``, keep what it leaves; return what it returns."""
        ...

    def read(self, keys: tuple[str, ...]) -> Rows:
        """The keys' rows as they are now, read without writing anything."""
        ...


class MemoryCounters:
    """The rows in this process only, where there is no store; the stalest past ``max_keys`` go."""

    def __init__(self, max_keys: int = _MAX_KEYS) -> None:
        self._rows: OrderedDict[str, LockoutRow] = OrderedDict()
        self._max_keys = max_keys
        self._lock = threading.Lock()

    def update(self, keys: tuple[str, ...], now: datetime, step: Callable[[Rows], float]) -> float:
        with self._lock:
            rows: Rows = {key: self._rows.pop(key, None) for key in keys}
            wait = step(rows)
            self._rows.update((key, row) for key, row in rows.items() if row is not None)
            while len(self._rows) > self._max_keys:
                self._rows.popitem(last=False)
            return wait

    def read(self, keys: tuple[str, ...]) -> Rows:
        with self._lock:
            return {key: self._rows.get(key) for key in keys}


class StoreCounters:
    """The rows in the deployment's database, shared by every process and host on it.

    Args:
        store: the deployment's store.
        secret: the key of the keyed hash that stands for each limiter key.
        name: which limiter (``logins``, ``api_keys``): their keys never mix.
        max_keys: how many rows to keep at most (the soonest forgotten go first).
    """

    def __init__(self, store: Store, secret: bytes, name: str, max_keys: int = _MAX_KEYS) -> None:
        if len(secret) < _MIN_SECRET:
            # Unkeyed, every IPv4 address times a list of account names could be
            # hashed by whoever holds a copy of the table, and its rows read back.
            raise ValueError(
                f"the lockout table's keyed hash needs a secret of {_MIN_SECRET}+ bytes"
            )
        self._store = store
        self._mac = hmac.new(secret, b"facewarden/lockouts/%s\x00" % name.encode(), hashlib.sha256)
        self._max_keys = max_keys

    def update(self, keys: tuple[str, ...], now: datetime, step: Callable[[Rows], float]) -> float:
        hashes = {key: self._hash(key) for key in keys}
        with self._store.transaction() as tx:
            before = {key: tx.lockout(hashed) for key, hashed in hashes.items()}
            rows = dict(before)
            wait = step(rows)
            for key, row in rows.items():
                if row != before[key]:
                    tx.put_lockout(hashes[key], row)
            # The cap is checked only when a new key may have grown the table.
            grew = any(before[key] is None and row is not None for key, row in rows.items())
            tx.forget_lockouts(now, keep=self._max_keys if grew else None)
        return wait

    def read(self, keys: tuple[str, ...]) -> Rows:
        return {key: self._store.lockout(self._hash(key)) for key in keys}

    def _hash(self, key: str) -> str:
        mac = self._mac.copy()
        mac.update(key.encode("utf-8", "surrogatepass"))
        return mac.hexdigest()


class FailureLimiter:
    """Attempts per key in a window; a key over its limit is locked, longer each time.

    Args:
        max_failures: attempts allowed inside ``window`` that did not succeed; the
            next one is refused.
        window: how long an attempt counts, and the first lock's length.
        clock: the time source (tests inject one).
        max_keys: how many keys to track at most, in memory (see ``counters``).
        limits: another limit for the keys starting with a prefix (``{"addr:": 20}``).
        counters: where the counts live (:class:`StoreCounters` to share them across
            processes); by default in this process's memory.
    """

    def __init__(
        self,
        max_failures: int,
        window: timedelta,
        *,
        clock: Clock = utc_now,
        max_keys: int = _MAX_KEYS,
        limits: Mapping[str, int] | None = None,
        counters: Counters | None = None,
    ) -> None:
        if max_failures < 1 or window <= timedelta(0):
            raise ValueError("max_failures must be >= 1 and window positive")
        if limits and min(limits.values()) < 1:
            raise ValueError("every limit must be >= 1")
        self._max = max_failures
        self._limits = dict(limits or {})
        self._window = window
        self._clock = clock
        self._counters = counters if counters is not None else MemoryCounters(max_keys)

    def attempt(self, *keys: str, what: str, checked: tuple[str, ...] = ()) -> None:
        """Count an attempt against each of ``keys``, or refuse it.

        Refused when any of ``keys`` or ``checked`` (looked at, not counted) is
        locked or at its limit; a key at its limit is locked by the refusal.
        A successful attempt is given back with :meth:`clear`.

        Raises:
            RateLimitedError: with the seconds to wait; ``what`` names what is limited.
        """
        now = self._clock()
        every = tuple(dict.fromkeys((*keys, *checked)))
        # A key locked now refuses without a write: a flood of attempts during a
        # lock must not become a flood of write transactions. Only a lock can be
        # read here (it ends only by time or by a success's clear), so the
        # refusal is the one the counting path below would give.
        wait = max(
            (self._lock_left(row, now) for row in self._counters.read(every).values()), default=0.0
        )
        if wait:
            self._refuse(wait, what)

        def step(rows: Rows) -> float:
            wait = 0.0
            for key, stored in rows.items():
                row = rows[key] = self._locked(key, self._current(stored, now), now)
                if row is not None and row.locked_until is not None and row.locked_until > now:
                    wait = max(wait, (row.locked_until - now).total_seconds())
            if not wait:
                for key in keys:
                    row = rows[key] or LockoutRow(0, None, None, 0, now)
                    rows[key] = self._kept(
                        replace(
                            row,
                            failures=row.failures + 1,
                            window_end=row.window_end or now + self._window,
                        )
                    )
            return wait

        wait = self._counters.update(every, now, step)
        if wait:
            self._refuse(wait, what)

    @staticmethod
    def _lock_left(row: LockoutRow | None, now: datetime) -> float:
        if row is None or row.forget_at <= now or row.locked_until is None:
            return 0.0
        return max(0.0, (row.locked_until - now).total_seconds())

    @staticmethod
    def _refuse(wait: float, what: str) -> None:
        seconds = max(1, math.ceil(wait))
        raise RateLimitedError(
            f"too many failed {what}; try again in {seconds} s", retry_after=seconds
        )

    def clear(self, *keys: str, give_back: tuple[str, ...] = ()) -> None:
        """After a success: forget ``keys``' attempts and locks; give one back to ``give_back``."""
        now = self._clock()

        def step(rows: Rows) -> float:
            for key in give_back:
                row = self._current(rows[key], now)
                if row is not None:
                    rows[key] = self._kept(replace(row, failures=max(0, row.failures - 1)))
            rows.update(dict.fromkeys(keys))
            return 0.0

        self._counters.update((*keys, *give_back), now, step)

    def _limit(self, key: str) -> int:
        for prefix, limit in self._limits.items():
            if key.startswith(prefix):
                return limit
        return self._max

    def _lock_length(self, strikes: int) -> timedelta:
        return min(self._window * (1 << min(strikes, 32)), _MAX_LOCK)

    def _current(self, row: LockoutRow | None, now: datetime) -> LockoutRow | None:
        """The row with an ended window's attempts dropped; None once forgotten."""
        if row is None or row.forget_at <= now:
            return None
        if row.window_end is not None and row.window_end <= now:
            row = replace(row, failures=0, window_end=None)
        return row

    def _locked(self, key: str, row: LockoutRow | None, now: datetime) -> LockoutRow | None:
        """The row, locked now if it is at its limit and not locked already."""
        if row is None or row.failures < self._limit(key):
            return row
        if row.locked_until is not None and row.locked_until > now:
            return row
        until = now + self._lock_length(row.strikes)
        return self._kept(LockoutRow(0, None, until, row.strikes + 1, now))

    def _kept(self, row: LockoutRow) -> LockoutRow | None:
        """The row with when it is forgotten: its window's end, or its lock's end plus
        as long again as the next lock would last (the backoff's memory); None if empty."""
        ends = [row.window_end] if row.failures and row.window_end else []
        if row.locked_until is not None:
            # strikes already counts the last lock: this is the next one's length.
            ends.append(row.locked_until + self._lock_length(row.strikes))
        return replace(row, forget_at=max(ends)) if ends else None


@dataclass(frozen=True)
class AuthLimiter:
    """The two limiters a server keeps: failed sign-ins, and bad API keys."""

    logins: FailureLimiter
    api_keys: FailureLimiter

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        store: Store | None = None,
        secret: bytes = b"",
    ) -> AuthLimiter:
        """Limiters with the configured limits and window.

        Args:
            store: where the counts are shared across processes and hosts (None: in memory).
            secret: with a store, the key of the keyed hashes that stand for limiter keys.

        Raises:
            ValueError: a store without a secret (of at least 16 bytes).
        """

        def counters(name: str) -> Counters | None:
            return None if store is None else StoreCounters(store, secret, name)

        window = timedelta(seconds=settings.lockout_seconds)
        return cls(
            FailureLimiter(
                settings.login_max_failures,
                window,
                clock=clock,
                limits={"addr:": settings.login_max_failures_per_address},
                counters=counters("logins"),
            ),
            FailureLimiter(
                settings.api_key_max_failures, window, clock=clock, counters=counters("api_keys")
            ),
        )
