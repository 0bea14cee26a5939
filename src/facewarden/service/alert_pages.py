"""The desk's alerts in a chosen order, a page at a time, by a cursor (keyset paging).

A busy shift holds more open alerts than one answer (at most 100): the desk
reads them page by page. A page never starts at an offset: alerts decided
between two reads (by this desk or another) would shift every later alert
by one, and one would never be shown. The cursor names the last alert of a
page by its place in the order (its severity's rank, when it was first seen,
its id), so the next page starts right after it, whatever left the list
meanwhile: every alert still there is shown exactly once.

The cursor is opaque to clients (URL-safe base64 of text this module writes),
says which order it belongs to, and holds no person: a time and an alert id
the caller was shown already. One that does not decode, or belongs to
another order, is an :class:`~facewarden.errors.InvalidInputError`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from facewarden.errors import InvalidInputError
from facewarden.service.alert_desk_results import DeskAlert
from facewarden.service.alert_severity import SEVERITIES

__all__ = ["ORDERS", "AlertPage", "page_of", "sort_alerts"]

ORDERS = ("newest", "oldest", "severity")
"""How the desk lists alerts: newest first, oldest first, or alarms first (each newest first)."""
_CURSOR_LIMIT = 200  # characters: a cursor this module writes is well under 100
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class AlertPage:
    """One page of alerts, and the cursor of the next (None: this was the last page)."""

    alerts: list[DeskAlert]
    next_cursor: str | None


@dataclass(frozen=True, order=True)
class _Place:
    """Where an alert stands: its severity's rank, when it was first seen, its id."""

    rank: int
    first_seen: datetime
    sighting_id: str


def _place(alert: DeskAlert) -> _Place:
    rank = _RANK.get(alert.severity, len(_RANK))
    return _Place(rank, alert.sighting.first_seen, alert.sighting.sighting_id)


def _comes_after(place: _Place, cursor: _Place, order: str) -> bool:
    """Whether ``place`` is listed after ``cursor`` in ``order``."""
    when = (place.first_seen, place.sighting_id)
    mark = (cursor.first_seen, cursor.sighting_id)
    if order == "oldest":
        return when > mark
    if order == "newest":
        return when < mark
    return place.rank > cursor.rank or (place.rank == cursor.rank and when < mark)


def sort_alerts(alerts: list[DeskAlert], order: str) -> list[DeskAlert]:
    """``alerts`` in ``order`` (see :data:`ORDERS`); ties by sighting id, so pages are stable."""
    if order not in ORDERS:
        raise InvalidInputError(f"order must be one of {', '.join(ORDERS)}")
    by_time = sorted(alerts, key=lambda a: (a.sighting.first_seen, a.sighting.sighting_id))
    if order == "oldest":
        return by_time
    by_time.reverse()
    if order == "severity":
        by_time.sort(key=lambda a: _place(a).rank)  # stable: each severity newest first
    return by_time


def page_of(
    alerts: Sequence[DeskAlert], *, order: str, cursor: str | None, limit: int
) -> AlertPage:
    """The page of ``alerts`` (already in ``order``) after ``cursor``, at most ``limit``.

    Raises:
        InvalidInputError: a cursor that is not one this module wrote for ``order``.
    """
    found = list(alerts)
    if cursor is not None:
        mark = _decode(cursor, order)
        found = [a for a in found if _comes_after(_place(a), mark, order)]
    page = found[:limit]
    more = len(found) > limit and bool(page)
    return AlertPage(page, _encode(_place(page[-1]), order) if more else None)


def _encode(place: _Place, order: str) -> str:
    text = f"{order}|{place.rank}|{place.first_seen.isoformat()}|{place.sighting_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, order: str) -> _Place:
    bad = InvalidInputError(
        "the cursor is not one this list gave: ask again without it for the first page"
    )
    if not cursor or len(cursor) > _CURSOR_LIMIT:
        raise bad
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        given_order, rank, seen, sighting_id = text.split("|")
        first_seen = datetime.fromisoformat(seen)
        place = _Place(int(rank), first_seen, sighting_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as err:
        raise bad from err
    if first_seen.tzinfo is None or not _ID.fullmatch(sighting_id) or given_order not in ORDERS:
        raise bad
    if not 0 <= place.rank <= len(_RANK):
        raise bad
    if given_order != order:
        raise InvalidInputError(
            f"the cursor belongs to order={given_order}, not order={order}: "
            "ask again without it for the first page in this order"
        )
    return place
