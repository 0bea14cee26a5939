"""The package surface and the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import facewarden.privacy as privacy
from facewarden.privacy import ManualClock, utc_now


def test_every_public_name_is_exported() -> None:
    assert sorted(privacy.__all__) == sorted(set(privacy.__all__))
    for name in privacy.__all__:
        assert getattr(privacy, name) is not None, name


def test_utc_now_is_aware_utc() -> None:
    now = utc_now()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


def test_manual_clock_moves_only_when_told() -> None:
    start = datetime(2024, 5, 1, 14, tzinfo=UTC)
    clock = ManualClock(start)
    assert clock() == clock() == start
    assert clock.advance(timedelta(hours=25)) == start + timedelta(hours=25)
    clock.set(start)
    assert clock() == start
    with pytest.raises(ValueError, match="non-negative"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="naive"):
        ManualClock(datetime(2024, 5, 1))
