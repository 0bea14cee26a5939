"""What a console polls for: alerts recorded since, decisions taken since, alerts gone.

Every console asks each second (:mod:`facewarden.api.routes.sightings`,
``GET /v1/alerts``). What is new is what was *recorded* since its last
answer (:meth:`AlertFeed.recorded_after`), in the order the sightings were
committed, whatever their first-seen time; what every desk drops from its
queue is what any operator decided since (:meth:`AlertFeed.decided_since`);
and what a console must take down, the name and faces of an alert that has
left the desk (its person erased, past the live window), is
:meth:`AlertFeed.gone`. Only the first is audited: the other two answer ids.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from facewarden.errors import InvalidInputError
from facewarden.service.alert_desk_results import DeskAlert, DeskDecision
from facewarden.service.alert_pages import AlertPage
from facewarden.service.alert_window import AlertWindow, audit_alerts_read, check_desk_role
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.sightings import Sightings

__all__ = ["HELD_LIMIT", "AlertFeed", "DecisionPage"]

HELD_LIMIT = 100
"""Alerts a console may ask about at once (:meth:`AlertFeed.gone`)."""
_ALERT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_RECORD_SCAN = 20_000  # audit entries one read of what was recorded visits at most
_DECIDED_CURSOR = "decided"  # what a decisions cursor says it is (not a list's cursor)


@dataclass(frozen=True)
class DecisionPage:
    """Decisions taken since a time, latest first, and the cursor of the next page (or None)."""

    decisions: list[DeskDecision]
    next_cursor: str | None


def _decided_place(d: DeskDecision) -> tuple[datetime, str]:
    return d.decided_at, d.sighting_id


def _encode_decided(place: tuple[datetime, str]) -> str:
    text = f"{_DECIDED_CURSOR}|{place[0].isoformat()}|{place[1]}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_decided(cursor: str) -> tuple[datetime, str]:
    bad = InvalidInputError("the decided_cursor is not one this server gave: ask again without it")
    if not cursor or len(cursor) > 200:
        raise bad
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, when, sighting_id = text.split("|")
        decided_at = datetime.fromisoformat(when)
    except (binascii.Error, UnicodeDecodeError, ValueError) as err:
        raise bad from err
    if kind != _DECIDED_CURSOR or decided_at.tzinfo is None or not _ALERT_ID.fullmatch(sighting_id):
        raise bad
    return decided_at, sighting_id


class AlertFeed:
    """What a console polls for (see the module's docstring)."""

    def __init__(
        self, ctx: Context, audit: AuditLog, sightings: Sightings, window: AlertWindow
    ) -> None:
        self._ctx = ctx
        self._audit = audit
        self._sightings = sightings
        self._window = window

    def position(self) -> int:
        """Where the record of sightings stands now: a :meth:`recorded_after` position."""
        self._ctx.ensure_open()
        return self._ctx.store.last_audit_seq()

    def recorded_after(
        self,
        position: int,
        *,
        role: str,
        state: str = "all",
        severity: str | None = None,
        camera: str | None = None,
        limit: int = 50,
    ) -> AlertPage:
        """The alerts of the live window recorded after ``position``, in the order recorded.

        What a console polls for what is new. Not by when an alert was first
        seen: a face tracked from afar is identified seconds later, and a
        lagging camera's frames are processed late, so a sighting is often
        recorded after others first seen later than it; a reader moving a
        first-seen mark forward would never see it (an alarm never raised).
        The position is the audit log's sequence number, given to each entry
        under the writers' lock: every sighting is recorded with its
        ``sighting.record`` entry in one transaction, so the sequence is the
        order in which they were committed, and a reader that moves on to the
        answer's position misses none. ``next_cursor`` holds the position to
        ask from next time (as text). Audited like the desk's list.

        Raises:
            PermissionDeniedError: the role may not watch alerts.
            InvalidInputError: an unknown state or severity, or a negative position.
            NotFoundError: an unknown camera.
        """
        check_desk_role(role)
        if position < 0:
            raise InvalidInputError("a position is a number from 0")
        store = self._ctx.store
        latest = store.last_audit_seq()  # first: whatever commits after it is read next time
        if position > latest:
            # Not a position this log has reached (a restored backup is behind a console
            # that stayed open): read on from where it stands, or nothing would ever be new.
            return AlertPage([], str(latest))
        upto = min(latest, position + _RECORD_SCAN)
        recorded = store.sightings_recorded(position, upto) if upto > position else []
        if not recorded:
            return AlertPage([], str(max(position, upto)))
        live = {
            a.sighting.sighting_id: a for a in self._window.filtered(None, camera, state, severity)
        }
        found: list[DeskAlert] = []
        reached = upto
        for seq, sighting_id in recorded:
            alert = live.get(sighting_id)
            if alert is None:
                continue  # not an alert (any more): erased, expired, its camera sensitive
            found.append(alert)
            if len(found) == limit:
                reached = seq
                break
        audit_alerts_read(self._audit, found)
        return AlertPage(found, str(reached))

    def decided_since(
        self, *, role: str, since: datetime, cursor: str | None = None, limit: int = 100
    ) -> DecisionPage:
        """Alerts of the live window decided at or after ``since``, a page at a time.

        What lets every desk see another operator's decision without reloading:
        the console asks for it with each poll and drops those alerts from its
        queue and alarm panel. Its answer carries ids and the decision only (no
        person, no place), so it is not audited, like the desk's figures. It
        reads the decisions on the live window's sightings only (an index range
        per camera), however long sightings are kept.

        A page holds the ``limit`` *earliest* decisions after ``cursor`` (listed
        latest first): a console that fell behind (a throttled tab, a laptop
        waking from sleep) reads on with ``next_cursor`` until it is None, so
        the decision taken first is never the one cut off, and the newest
        decision it has read is a mark it may poll on from.

        Raises:
            PermissionDeniedError: the role may not watch alerts.
            InvalidInputError: a cursor this method did not give.
        """
        check_desk_role(role)
        mark = None if cursor is None else _decode_decided(cursor)
        floor, end = self._sightings.live_since(), self._ctx.clock() + timedelta(minutes=5)
        store = self._ctx.store
        decided = [
            DeskDecision(d.sighting_id, d.decision, d.decided_by, d.decided_at)
            for cam in self._window.cameras(None)
            for watchlist_id, d in store.alerts_decided_since(cam.camera_id, floor, end, since)
            if watchlist_id in cam.watchlists
        ]
        decided.sort(key=_decided_place)
        if mark is not None:
            decided = [d for d in decided if _decided_place(d) > mark]
        page = decided[:limit]
        more = len(decided) > limit and bool(page)
        next_cursor = _encode_decided(_decided_place(page[-1])) if more else None
        page.reverse()
        return DecisionPage(page, next_cursor)

    def gone(self, sighting_ids: Sequence[str], *, role: str) -> list[str]:
        """Which of these alerts, shown at a console, have left the desk since.

        An alert leaves when its subject is erased, its sighting expires or
        passes the live window, or its camera is removed or marked sensitive:
        a console that still shows its subject's name and faces (an alarm
        panel, an open review) takes them down. The ids are the caller's and
        the answer holds no more than which of them are gone, so it is not
        audited, like :meth:`decided_since`.

        Raises:
            PermissionDeniedError: the role may not watch alerts.
            InvalidInputError: more than :data:`HELD_LIMIT` ids, or one malformed.
        """
        check_desk_role(role)
        ids = list(dict.fromkeys(sighting_ids))
        if len(ids) > HELD_LIMIT:
            raise InvalidInputError(f"ask about at most {HELD_LIMIT} alerts at once")
        if not all(_ALERT_ID.fullmatch(i) for i in ids):
            raise InvalidInputError("an alert id is letters, digits, '_' and '-' (1 to 64)")
        store = self._ctx.store
        return [i for i in ids if not self._window.is_live(store, store.get_sighting(i))]
