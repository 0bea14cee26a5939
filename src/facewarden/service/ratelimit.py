"""Counting failed sign-ins and bad API keys, and refusing for a while when there are too many.

In memory, per process: a server running several worker processes (or
hosts) counts failures separately in each, so the effective limit is the
configured one times the number of processes. That is an honest limit of
this embedded default; a shared store for the counters would lift it.

Each key (``pair:203.0.113.9|alice``, ``addr:203.0.113.9``) keeps the times
of its recent failures. A key that reaches its limit inside the window is
locked for the window; each further lockout of the same key while it is
remembered doubles the lock (backoff), up to a day. Sign-ins are counted
per (address, account) pair, so a stranger who fails against an account
locks only themselves out of it, and per address with a higher limit, so
one address cannot try every account. Memory is bounded: beyond
``max_keys`` tracked keys the stalest are forgotten.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from facewarden.config import Settings
from facewarden.errors import RateLimitedError
from facewarden.privacy.clock import Clock, utc_now

__all__ = ["AuthLimiter", "FailureLimiter"]

_MAX_KEYS = 100_000
_MAX_LOCK = timedelta(days=1)


@dataclass
class _Record:
    """One key's recent failures, its lock and how often it was locked before."""

    failures: deque[datetime] = field(default_factory=deque)
    locked_until: datetime | None = None
    strikes: int = 0


class FailureLimiter:
    """Failures per key in a sliding window; a key over its limit is locked, longer each time.

    Args:
        max_failures: failures allowed inside ``window``; the next attempt is refused.
        window: how long a failure counts, and the first lock's length.
        clock: the time source (tests inject one).
        max_keys: how many keys to track at most (the stalest are dropped).
        limits: another limit for the keys starting with a prefix (``{"addr:": 20}``).
    """

    def __init__(
        self,
        max_failures: int,
        window: timedelta,
        *,
        clock: Clock = utc_now,
        max_keys: int = _MAX_KEYS,
        limits: Mapping[str, int] | None = None,
    ) -> None:
        if max_failures < 1 or window <= timedelta(0):
            raise ValueError("max_failures must be >= 1 and window positive")
        if limits and min(limits.values()) < 1:
            raise ValueError("every limit must be >= 1")
        self._max = max_failures
        self._limits = dict(limits or {})
        self._window = window
        self._clock = clock
        self._max_keys = max_keys
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> int | None:
        """Seconds until every one of ``keys`` may try again, or None if none is locked."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                record = self._current(key, now)
                if record is not None and record.locked_until is not None:
                    wait = max(wait, (record.locked_until - now).total_seconds())
        return max(1, math.ceil(wait)) if wait > 0 else None

    def check(self, *keys: str, what: str) -> None:
        """Raise when any of ``keys`` is locked.

        Raises:
            RateLimitedError: with the seconds to wait; ``what`` names what is limited.
        """
        wait = self.retry_after(*keys)
        if wait is not None:
            raise RateLimitedError(
                f"too many failed {what}; try again in {wait} s", retry_after=wait
            )

    def failure(self, *keys: str) -> None:
        """Count one failure against each of ``keys``; lock those that reach their limit."""
        now = self._clock()
        with self._lock:
            for key in keys:
                record = self._current(key, now)
                if record is None:
                    record = self._records[key] = _Record()
                record.failures.append(now)
                if len(record.failures) >= self._limit(key):
                    lock = min(self._window * 2**record.strikes, _MAX_LOCK)
                    record.strikes += 1
                    record.locked_until = now + lock
                    record.failures.clear()
                self._records.move_to_end(key)
            while len(self._records) > self._max_keys:
                self._records.popitem(last=False)

    def clear(self, *keys: str) -> None:
        """Forget the failures and lockouts of ``keys`` (after a success)."""
        with self._lock:
            for key in keys:
                self._records.pop(key, None)

    def _limit(self, key: str) -> int:
        for prefix, limit in self._limits.items():
            if key.startswith(prefix):
                return limit
        return self._max

    def _current(self, key: str, now: datetime) -> _Record | None:
        """The key's record with expired failures and locks dropped; None once forgotten."""
        record = self._records.get(key)
        if record is None:
            return None
        while record.failures and record.failures[0] + self._window <= now:
            record.failures.popleft()
        if record.locked_until is not None and record.locked_until <= now:
            # A lock is remembered (for the backoff) as long as it lasted, after it ended.
            remembered = record.locked_until + min(self._window * 2**record.strikes, _MAX_LOCK)
            if now < remembered:
                return record
            record.locked_until = None
            record.strikes = 0
        if not record.failures and record.locked_until is None and record.strikes == 0:
            del self._records[key]
            return None
        return record


@dataclass(frozen=True)
class AuthLimiter:
    """The two limiters a server keeps: failed sign-ins, and bad API keys."""

    logins: FailureLimiter
    api_keys: FailureLimiter

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = utc_now) -> AuthLimiter:
        """Limiters with the configured limits and window."""
        window = timedelta(seconds=settings.lockout_seconds)
        return cls(
            FailureLimiter(
                settings.login_max_failures,
                window,
                clock=clock,
                limits={"addr:": settings.login_max_failures_per_address},
            ),
            FailureLimiter(settings.api_key_max_failures, window, clock=clock),
        )
