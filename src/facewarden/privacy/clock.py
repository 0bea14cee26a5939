"""An injectable clock, so that audit time stamps and retention can be tested.

Code that needs "now" takes a :data:`Clock` argument instead of calling
:func:`datetime.now` itself; production passes :func:`utc_now`, tests pass a
:class:`ManualClock` they can move forward (24 hours of sighting retention in
a millisecond).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "ManualClock", "utc_now"]

Clock = Callable[[], datetime]
"""A zero-argument callable returning the current time as an aware UTC datetime."""


def utc_now() -> datetime:
    """The current time as a timezone-aware UTC datetime (the production clock)."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; for tests and simulations.

    Args:
        start: the initial time; must be timezone-aware (it is converted to UTC).

    Raises:
        ValueError: if ``start`` is naive.
    """

    def __init__(self, start: datetime) -> None:
        self._now = _require_aware(start)

    def __call__(self) -> datetime:
        """Return the clock's current time."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new time.

        Raises:
            ValueError: if ``delta`` is negative (real clocks may step back, but a
                test that wants that should say so with :meth:`set`).
        """
        if delta < timedelta(0):
            raise ValueError(f"advance() needs a non-negative delta, got {delta}")
        self._now += delta
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (forwards or backwards)."""
        self._now = _require_aware(when)


def _require_aware(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"a naive datetime is ambiguous, give it a timezone: {when!r}")
    return when.astimezone(UTC)
