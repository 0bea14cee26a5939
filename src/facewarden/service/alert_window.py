"""The desk's alerts as the store holds them: the live window, read within its bounds.

What :class:`~facewarden.service.alert_desk.AlertDesk` (the list, one
alert, decisions) and :class:`~facewarden.service.alert_feed.AlertFeed`
(what a console polls for) both read. An alert is a sighting first seen
within the live window at a camera that is not sensitive and watches its
watchlist, of a subject whose processing is not restricted; the window is
read through an index range bounded at both ends (``alert_sightings``),
never every sighting kept over the retention period.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from facewarden.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from facewarden.service.alert_desk_results import DeskAlert
from facewarden.service.alert_severity import SEVERITIES, alert_severity
from facewarden.service.audit import AuditLog
from facewarden.service.cameras import resolve_camera
from facewarden.service.context import Context
from facewarden.service.restriction import restricted_among
from facewarden.service.sightings import Sighting, Sightings
from facewarden.store.base import Reader
from facewarden.store.cameras import CameraRow, SightingRow

__all__ = ["STATES", "AlertWindow", "audit_alerts_read", "check_desk_role"]

STATES = ("open", "decided", "all")
"""Which alerts a list holds: undecided, decided, or both."""
_DESK_ROLES = frozenset({"admin", "operator"})


def check_desk_role(role: str) -> None:
    """Refuse a role that does not work the security desk.

    Raises:
        PermissionDeniedError: not an admin or an operator.
    """
    if role not in _DESK_ROLES:
        raise PermissionDeniedError(f"role {role!r} may not work the security desk's alerts")


def audit_alerts_read(audit: AuditLog, alerts: list[DeskAlert]) -> None:
    """Audit an answer that holds alerts (``sightings.alerts``: counts, and the people by id)."""
    if alerts:
        # One entry per answer that holds any (the console polls every
        # second for what is new; an empty answer reads nobody's whereabouts).
        # The people whose whereabouts it held, by id, so that who accessed a
        # person (`audit list --about`, their export) finds it.
        audit.record(
            "sightings.alerts",
            object_type="camera",
            purpose="sighting alerts",
            details={
                "cameras": len({a.sighting.camera_id for a in alerts}),
                "sightings": len(alerts),
                "subjects": sorted({a.sighting.subject_id for a in alerts}),
            },
        )


class AlertWindow:
    """The alerts of the live window, over the deployment's store (see the module's docstring)."""

    def __init__(self, ctx: Context, sightings: Sightings) -> None:
        self._ctx = ctx
        self._sightings = sightings

    def cameras(self, camera: str | None) -> list[CameraRow]:
        """The cameras whose sightings are alerts (not sensitive, watching a watchlist).

        Raises:
            NotFoundError: ``camera`` (an id or name) is no camera.
        """
        store = self._ctx.store
        cameras = [c for c in store.list_cameras() if not c.sensitive and c.watchlists]
        if camera is not None:
            wanted = resolve_camera(store, camera).camera_id
            cameras = [c for c in cameras if c.camera_id == wanted]
        return cameras

    def alerts(self, *, since: datetime | None, camera: str | None) -> list[DeskAlert]:
        """The alerts first seen after ``since`` (brought forward to the window), newest first."""
        floor = self._sightings.live_since()
        start = floor if since is None else max(since, floor)
        end = self._ctx.clock() + timedelta(minutes=5)
        store = self._ctx.store
        rows = [
            r
            for cam in self.cameras(camera)
            for r in store.alert_sightings(cam.camera_id, start, end)
            if r.watchlist_id in cam.watchlists
        ]
        restricted = restricted_among(store, (r.subject_id for r in rows))
        rows = [r for r in rows if r.subject_id not in restricted]
        rows.sort(key=lambda r: (r.first_seen, r.sighting_id), reverse=True)
        decisions = store.alert_decisions([r.sighting_id for r in rows])
        found = []
        for r in rows:
            d = decisions.get(r.sighting_id)
            found.append(
                DeskAlert(
                    Sighting.from_row(r),
                    alert_severity(store, r),
                    None if d is None else d.decision,
                    None if d is None else d.decided_by,
                    None if d is None else d.decided_at,
                )
            )
        return found

    def filtered(
        self, since: datetime | None, camera: str | None, state: str, severity: str | None
    ) -> list[DeskAlert]:
        """:meth:`alerts` in ``state`` (see :data:`STATES`) and of ``severity``, if given.

        Raises:
            InvalidInputError: an unknown state or severity.
            NotFoundError: an unknown camera.
        """
        if state not in STATES:
            raise InvalidInputError("state must be open, decided or all")
        if severity is not None and severity not in SEVERITIES:
            raise InvalidInputError(f"severity must be one of {', '.join(SEVERITIES)}")
        found = self.alerts(since=since, camera=camera)
        if severity is not None:
            found = [a for a in found if a.severity == severity]
        if state == "open":
            found = [a for a in found if a.decision is None]
        elif state == "decided":
            found = [a for a in found if a.decision is not None]
        return found

    def is_live(self, reader: Reader, row: SightingRow | None) -> bool:
        """Whether ``row`` is an alert still (in the live window, its camera not
        sensitive, its subject's processing not restricted)."""
        camera = None if row is None else reader.get_camera(row.camera_id)
        return (
            row is not None
            and camera is not None
            and not camera.sensitive
            and row.first_seen > self._sightings.live_since()
            and not restricted_among(reader, (row.subject_id,))
        )

    def live_row(self, reader: Reader, sighting_id: str) -> SightingRow:
        """The sighting of an alert still on the desk.

        Raises:
            NotFoundError: no such alert in the live window.
        """
        row = reader.get_sighting(sighting_id)
        if row is None or not self.is_live(reader, row):
            raise NotFoundError(f"no alert {sighting_id} in the live window")
        return row

    def alert(self, reader: Reader, row: SightingRow) -> DeskAlert:
        """One alert as the desk shows it, read through ``reader``."""
        d = reader.alert_decisions([row.sighting_id]).get(row.sighting_id)
        return DeskAlert(
            Sighting.from_row(row),
            alert_severity(reader, row),
            None if d is None else d.decision,
            None if d is None else d.decided_by,
            None if d is None else d.decided_at,
        )
