"""Counting failed sign-ins and bad API keys, and refusing for a while when there are too many.

In memory, per process: a server running several worker processes (or
hosts) counts failures separately in each, so the effective limit is the
configured one times the number of processes. That is an honest limit of
this embedded default; a shared store for the counters would lift it.

Each key (``addr:203.0.113.9``, ``user:alice``) keeps the times of its
recent failures. A key with ``max_failures`` failures inside the window is
locked until the oldest of them leaves the window. Memory is bounded:
beyond ``max_keys`` tracked keys the stalest are forgotten.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from facewarden.config import Settings
from facewarden.errors import RateLimitedError
from facewarden.privacy.clock import Clock, utc_now

__all__ = ["AuthLimiter", "FailureLimiter"]

_MAX_KEYS = 100_000


class FailureLimiter:
    """Failures per key in a sliding window; a key over the limit is refused until it clears.

    Args:
        max_failures: failures allowed inside ``window``; the next attempt is refused.
        window: how long a failure counts.
        clock: the time source (tests inject one).
        max_keys: how many keys to track at most (the stalest are dropped).
    """

    def __init__(
        self,
        max_failures: int,
        window: timedelta,
        *,
        clock: Clock = utc_now,
        max_keys: int = _MAX_KEYS,
    ) -> None:
        if max_failures < 1 or window <= timedelta(0):
            raise ValueError("max_failures must be >= 1 and window positive")
        self._max = max_failures
        self._window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> int | None:
        """Seconds until every one of ``keys`` may try again, or None if none is locked."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if times is not None and len(times) >= self._max:
                    wait = max(wait, (times[0] + self._window - now).total_seconds())
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
        """Count one failure against each of ``keys``."""
        now = self._clock()
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if times is None:
                    times = deque(maxlen=self._max)
                    self._failures[key] = times
                times.append(now)
                self._failures.move_to_end(key)
            while len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)

    def clear(self, *keys: str) -> None:
        """Forget the failures of ``keys`` (after a success)."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _recent(self, key: str, now: datetime) -> deque[datetime] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] + self._window <= now:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times


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
            FailureLimiter(settings.login_max_failures, window, clock=clock),
            FailureLimiter(settings.api_key_max_failures, window, clock=clock),
        )
