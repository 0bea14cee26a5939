"""Sightings: one per visit of a watchlist subject to a camera, short-lived and audited.

Recording them, with their expiry, is :mod:`facewarden.service.sighting_visits`
(:class:`Sightings` has it too).

Reading them back is where a record of movements could arise, so
(promises 17 and 18): a subject's location history needs the
``investigator`` role and a case reference, is audited (refusals too), and,
when ``history_needs_approval`` is set, a second person's approval of a
pending request first. "Who on watchlist W was seen at camera C between t1
and t2" is a site-security question for operators, and audited too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from facewarden.errors import PermissionDeniedError
from facewarden.service.audit import AuditLog
from facewarden.service.cameras import resolve_camera
from facewarden.service.context import Context
from facewarden.service.history_requests import HistoryRequests
from facewarden.service.restriction import restricted_among
from facewarden.service.sighting_visits import SightingVisits
from facewarden.service.watchlists import resolve_watchlist
from facewarden.store.base import SightingRow

__all__ = ["HistoryResult", "Sighting", "Sightings"]

INVESTIGATOR = "investigator"
_SITE_ROLES = frozenset({"admin", "operator", "investigator"})
_ALERT_ROLES = frozenset({"admin", "operator"})
_MAX_HOURS = 24 * 31
# A start this little before the live window (a console's clock a little ahead of
# the server's) is read as the window's start rather than refused.
_LIVE_TOLERANCE = timedelta(minutes=2)


@dataclass(frozen=True)
class Sighting:
    """A stored sighting, without its thumbnail."""

    sighting_id: str
    subject_id: str
    camera_id: str
    watchlist_id: str
    first_seen: datetime
    last_seen: datetime
    best_similarity: float
    expires_at: datetime
    has_thumbnail: bool

    @classmethod
    def from_row(cls, row: SightingRow) -> Sighting:
        """The view of a stored row."""
        return cls(
            row.sighting_id,
            row.subject_id,
            row.camera_id,
            row.watchlist_id,
            row.first_seen,
            row.last_seen,
            row.best_similarity,
            row.expires_at,
            row.thumbnail is not None,
        )

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "sighting_id": self.sighting_id,
            "subject_id": self.subject_id,
            "camera_id": self.camera_id,
            "watchlist_id": self.watchlist_id,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "best_similarity": round(self.best_similarity, 4),
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(frozen=True)
class HistoryResult:
    """The answer to a location-history query.

    ``pending`` when a second person must approve ``request_id`` first; then
    ``sightings`` is empty.
    """

    request_id: str | None
    pending: bool
    sightings: tuple[Sighting, ...] = ()


class Sightings(SightingVisits):
    """Write sightings (for the frame processor) and answer sighting queries, audited."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit
        self._requests = HistoryRequests(ctx, audit)

    # -- reading ----------------------------------------------------------------------

    def history(
        self,
        subject_id: str,
        hours: int,
        *,
        role: str,
        case_reference: str,
        request_id: str | None = None,
        reason: str = "",
    ) -> HistoryResult:
        """Where ``subject_id`` was seen in the last ``hours`` hours.

        With an approved request, the hours are those before the request was
        made: what the approver agreed to. An approval is not a standing
        permission to follow the person on afterwards (promise 18).

        Args:
            subject_id: whose history.
            hours: how far back, 1 to 744.
            role: the caller's role; only ``investigator`` may ask.
            case_reference: the case the query is for (required, audited).
            request_id: an approved request, when approval is required.
            reason: why, for the approver (kept sealed with the request).

        Returns:
            The sightings, or a pending request for a second person to approve.

        Raises:
            PermissionDeniedError: wrong role, no case reference, or a request
                that is not this caller's, not approved, or for another query.
        """
        case_reference = case_reference.strip()
        refusal = self._refusal(role, case_reference, hours)
        if refusal is not None:
            self._refuse(subject_id, case_reference, refusal)
        if self._ctx.settings.history_needs_approval:
            if request_id is None:
                pending = self._requests.ask(subject_id, hours, case_reference, reason.strip())
                return HistoryResult(pending, True)
            asked = self._requests.check_approved(request_id, subject_id, hours, case_reference)
            until: datetime | None = asked.created_at
        else:
            until = None  # now, and whatever a camera ahead of this clock recorded
        since = (until or self._ctx.clock()) - timedelta(hours=hours)
        now = self._ctx.clock()
        with self._ctx.writing() as tx:
            # One past its retention is gone, though the purge (hourly) has not yet
            # deleted it, or a restored archive still holds it (promise 11).
            rows = [r for r in tx.sightings_of(subject_id, since, until) if r.expires_at > now]
            self._audit.append(
                tx,
                "sightings.history",
                object_type="subject",
                object_id=subject_id,
                purpose=case_reference,
                details={"hours": hours, "sightings": len(rows), "request": request_id},
            )
        return HistoryResult(request_id, False, tuple(Sighting.from_row(r) for r in rows))

    def approve(self, request_id: str, *, role: str) -> None:
        """Approve a pending history request as a second person (audited).

        See :meth:`facewarden.service.history_requests.HistoryRequests.approve`.
        """
        self._requests.approve(request_id, role=role)

    def live_window(self) -> timedelta:
        """How far back operators see alerts and who is at a camera (promise 18)."""
        return timedelta(minutes=self._ctx.settings.live_window_minutes)

    def live_since(self) -> datetime:
        """The oldest time the live window reaches back to, now."""
        return self._ctx.clock() - self.live_window()

    def at_camera(
        self,
        watchlist: str,
        camera: str,
        start: datetime | None,
        end: datetime,
        *,
        role: str,
        shown: int | None = None,
    ) -> list[Sighting]:
        """Who on ``watchlist`` is at ``camera`` within the live window (audited).

        Only the live window (``live_window_minutes``, one hour by default)
        answers here: who on a watchlist was at a camera earlier than that is
        part of a person's movements, which only an investigator's
        case-referenced history request reads (promise 18). A visit that began
        before the window shows as beginning at its start.

        Args:
            watchlist: the watchlist's id or name.
            camera: the camera's id or name.
            start: the earliest time asked for (None: the window's start).
            end: the latest time asked for.
            role: the caller's role.
            shown: how many of the answer the caller shows (None: all); the
                audit entry names the people in those, and counts the rest.

        Raises:
            PermissionDeniedError: the role may not ask, or ``start`` lies before
                the live window (audited as a refusal).
            NotFoundError: no such watchlist or camera.
        """
        if role not in _SITE_ROLES:
            raise PermissionDeniedError(f"role {role!r} may not query sightings")
        floor = self.live_since()
        if start is not None and start < floor - _LIVE_TOLERANCE:
            self._audit.record(
                "sightings.at_camera",
                object_type="camera",
                object_id=camera[:64],
                outcome="denied",
                details={"reason": "before the live window"},
            )
            raise PermissionDeniedError(
                f"sightings reach back {self._ctx.settings.live_window_minutes} minutes here "
                "(the live window); anything older about a person is a location history: "
                "an investigator requests one for a subject with a case reference"
            )
        start = floor if start is None else max(start, floor)
        if end <= start:
            return []
        with self._ctx.writing() as tx:
            wl = resolve_watchlist(tx, watchlist)
            cam = resolve_camera(tx, camera)
            now = self._ctx.clock()
            rows = [
                _clipped(r, floor)
                for r in tx.sightings_at(cam.camera_id, wl.watchlist_id, start, end)
                if r.expires_at > now  # past its retention: gone, purged or not
            ]
            restricted = restricted_among(tx, (r.subject_id for r in rows))
            rows = [r for r in rows if r.subject_id not in restricted]
            self._audit.append(
                tx,
                "sightings.at_camera",
                object_type="camera",
                object_id=cam.camera_id,
                purpose=self._ctx.watchlist_purpose(wl),
                # The people shown, by id (as a listing's entry): who accessed a
                # person (`audit list --about`, their export) finds it.
                details={
                    "watchlist": wl.watchlist_id,
                    "sightings": len(rows),
                    "subjects": sorted({r.subject_id for r in rows[:shown]}),
                },
            )
        return [Sighting.from_row(r) for r in rows]

    def recent(
        self, since: datetime, until: datetime, *, role: str, limit: int = 100
    ) -> list[Sighting]:
        """Sightings first seen after ``since`` (up to ``until``) at any camera: the alerts.

        ``since`` is brought forward to the live window's start: alerts never
        reach further back than that (promise 18).

        Newest first, at most ``limit``. Audited as one entry per call that
        finds something (``sightings.alerts``, with counts): the console asks
        every few seconds for what is new since its last answer, and an
        empty answer reads nobody's whereabouts.

        Raises:
            PermissionDeniedError: the role may not watch alerts (admin, operator).
        """
        if role not in _ALERT_ROLES:
            raise PermissionDeniedError(f"role {role!r} may not watch sighting alerts")
        since = max(since, self.live_since())  # never a movement history (promise 18)
        if until <= since:
            return []
        self._ctx.ensure_open()
        store = self._ctx.store
        cameras = [c for c in store.list_cameras() if not c.sensitive and c.watchlists]
        rows = [
            r
            for camera in cameras
            for watchlist_id in camera.watchlists
            for r in store.sightings_at(camera.camera_id, watchlist_id, since, until)
            if since < r.first_seen <= until
        ]
        restricted = restricted_among(store, (r.subject_id for r in rows))
        rows = [r for r in rows if r.subject_id not in restricted]
        rows.sort(key=lambda r: (r.first_seen, r.sighting_id), reverse=True)
        found = [Sighting.from_row(r) for r in rows[:limit]]
        if found:
            self._audit.record(
                "sightings.alerts",
                object_type="camera",
                purpose="sighting alerts",
                details={
                    "cameras": len({s.camera_id for s in found}),
                    "sightings": len(found),
                    "subjects": sorted({s.subject_id for s in found}),
                },
            )
        return found

    def _refusal(self, role: str, case_reference: str, hours: int) -> str | None:
        if role != INVESTIGATOR:
            return f"a location history needs the investigator role (not {role!r})"
        if not case_reference:
            return "a location history needs a case reference"
        if not 1 <= hours <= _MAX_HOURS:
            return f"hours must be 1 to {_MAX_HOURS}"
        return None

    def _refuse(self, subject_id: str, case_reference: str, reason: str) -> None:
        self._audit.record(
            "sightings.history",
            object_type="subject",
            object_id=subject_id,
            purpose=case_reference[:128],
            outcome="denied",
        )
        raise PermissionDeniedError(reason)


def _clipped(row: SightingRow, floor: datetime) -> SightingRow:
    """``row`` seen from ``floor`` on: a live view does not say since when a visit lasts."""
    if row.first_seen >= floor:
        return row
    return replace(row, first_seen=min(floor, row.last_seen))
