"""The security desk's alerts: severity per watchlist, review with photos, acknowledge or dismiss.

An alert is a sighting of a watchlist subject at a camera that is not
sensitive, first seen within the live window (``live_window_minutes``):
older ones are part of a person's movements and leave the desk (promise
18). Each watchlist says how loud its alerts are (:data:`SEVERITIES`):
``alarm`` (a persistent alarm with sound until someone acknowledges it),
``alert`` (a toast; the default) or ``log`` (the list only). An alert keeps
the severity it was raised with (:mod:`facewarden.service.alert_severity`).

Everything here that names a person is audited: the list of alerts when it
holds any (``sightings.alerts``, counts and the people's ids), an alert shown with its subject's
name (``alert.show``), each photo viewed (``alert.photo``), and each
decision (``alert.acknowledge``, ``alert.dismiss``, ``alert.escalate``; the note typed with it
is sealed with the subject's data key), and each note added after it (``alert.note``,
:mod:`facewarden.service.alert_notes`). :meth:`AlertDesk.figures` gives the
desk's counts, which name no one and are not audited. What the desk answers
is :mod:`facewarden.service.alert_desk_results`; the alerts it reads are
:mod:`facewarden.service.alert_window`'s, and what a console polls for
(recorded since, decided since, gone) is :mod:`facewarden.service.alert_feed`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from facewarden.errors import ConflictError, InvalidInputError, NotFoundError
from facewarden.service.alert_desk_results import (
    AlertNote,
    AlertReview,
    DeskAlert,
    DeskFigures,
)
from facewarden.service.alert_notes import NOTES_PER_ALERT, note_text, open_notes, sealed_note
from facewarden.service.alert_pages import AlertPage, page_of, sort_alerts
from facewarden.service.alert_severity import (
    DEFAULT_SEVERITY,
    SEVERITIES,
    SEVERITY_KEY,
    watchlist_severity,
)
from facewarden.service.alert_window import AlertWindow, audit_alerts_read, check_desk_role
from facewarden.service.audit import AuditLog
from facewarden.service.camera_places import open_place
from facewarden.service.context import Context
from facewarden.service.records import open_record
from facewarden.service.review_photos import kept_photo, thumbnail
from facewarden.service.sightings import Sightings
from facewarden.service.subjects import subject_row
from facewarden.service.watchlists import resolve_watchlist
from facewarden.store.base import Reader
from facewarden.store.desk import ALERT_DECISIONS, AlertDecisionRow

__all__ = ["DEFAULT_SEVERITY", "PHOTOS", "SEVERITIES", "AlertDesk", "thumbnail"]

PHOTOS = ("captured", "enrolled")
"""The two photos of an alert: the face the camera captured, the subject's enrolled one."""
_DECISION_ACTIONS = {
    "acknowledged": "alert.acknowledge",
    "dismissed": "alert.dismiss",
    "escalated": "alert.escalate",
}


class AlertDesk:
    """The desk's alerts, over the deployment's sightings (see the module's docstring)."""

    def __init__(self, ctx: Context, audit: AuditLog, sightings: Sightings) -> None:
        self._ctx = ctx
        self._audit = audit
        self._sightings = sightings
        self.window = AlertWindow(ctx, sightings)
        """The alerts of the live window, as this desk and the console's feed read them."""

    # -- severity -------------------------------------------------------------------

    def severity(self, watchlist_id: str, reader: Reader | None = None) -> str:
        """How loud ``watchlist_id``'s alerts are now (an alert keeps its own, as raised)."""
        return watchlist_severity(reader or self._ctx.store, watchlist_id)

    def set_severity(self, watchlist: str, severity: str, *, role: str) -> str:
        """Set how loud ``watchlist``'s alerts are from now on (audited); returns the watchlist id.

        Alerts raised already keep the severity they were raised with.

        Raises:
            PermissionDeniedError: the role may not.
            InvalidInputError: an unknown severity.
            NotFoundError: no such watchlist.
        """
        check_desk_role(role)
        if severity not in SEVERITIES:
            raise InvalidInputError(f"severity must be one of {', '.join(SEVERITIES)}")
        with self._ctx.writing() as tx:
            row = resolve_watchlist(tx, watchlist)
            tx.set_meta(SEVERITY_KEY + row.watchlist_id, severity)
            self._audit.append(
                tx,
                "watchlist.alert_severity",
                object_type="watchlist",
                object_id=row.watchlist_id,
                details={"severity": severity},
            )
        return row.watchlist_id

    # -- the list ---------------------------------------------------------------------

    def alerts(
        self,
        *,
        role: str,
        since: datetime | None = None,
        state: str = "all",
        severity: str | None = None,
        camera: str | None = None,
        limit: int = 50,
        order: str = "newest",
        cursor: str | None = None,
    ) -> AlertPage:
        """A page of alerts first seen after ``since`` within the live window (audited).

        Args:
            role: the caller's role (admin or operator).
            since: only alerts first seen after this (brought forward to the window).
            state: ``open`` (undecided), ``decided`` or ``all``.
            severity: only this severity.
            camera: only this camera (id or name).
            limit: how many at most.
            order: ``newest`` first; ``oldest`` first, so that a reader that moves
                ``since`` forward page by page misses none of a burst; or
                ``severity``: alarms, then alerts, then log entries (each newest
                first), so that a desk's queue shows every alarm first.
            cursor: the ``next_cursor`` of the page before, in the same order
                (:mod:`facewarden.service.alert_pages`): alerts decided meanwhile
                move no other alert, so none is skipped or shown twice.

        Raises:
            PermissionDeniedError: the role may not watch alerts.
            InvalidInputError: an unknown state, severity or order, or a bad cursor.
            NotFoundError: an unknown camera.
        """
        check_desk_role(role)
        found = sort_alerts(self.window.filtered(since, camera, state, severity), order)
        page = page_of(found, order=order, cursor=cursor, limit=limit)
        audit_alerts_read(self._audit, page.alerts)
        return page

    def figures(self) -> DeskFigures:
        """The desk's counts (numbers only: not audited)."""
        self._ctx.ensure_open()
        window = self.window.alerts(since=None, camera=None)
        open_by = Counter(a.severity for a in window if a.decision is None)
        now = self._ctx.clock()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        today = self._ctx.store.count_sightings_between(midnight, now + timedelta(minutes=5))
        return DeskFigures(
            {s: open_by.get(s, 0) for s in SEVERITIES},
            len(window),
            today,
            self._ctx.settings.live_window_minutes,
        )

    # -- one alert ----------------------------------------------------------------------

    def review(self, sighting_id: str, *, role: str) -> AlertReview:
        """Open an alert: the subject's name, the camera, the watchlist (audited: ``alert.show``).

        Raises:
            PermissionDeniedError: the role may not.
            NotFoundError: no such alert in the live window.
        """
        check_desk_role(role)
        with self._ctx.writing() as tx:
            row = self.window.live_row(tx, sighting_id)
            alert = self.window.alert(tx, row)
            subject, key = subject_row(tx, row.subject_id)
            name = open_record(self._ctx.envelope, key, row.subject_id, subject.fields).full_name
            watchlist = tx.get_watchlist(row.watchlist_id)
            camera = tx.get_camera(row.camera_id)
            decision = tx.alert_decisions([sighting_id]).get(sighting_id)
            note = None
            if decision is not None and decision.note is not None:
                note = self._ctx.envelope.decrypt_str(
                    decision.note,
                    data_key=key,
                    table="alert_decisions",
                    row=sighting_id,
                    field="note",
                )
            notes = open_notes(self._ctx.envelope, tx, sighting_id, key)
            has_enrolled = bool(tx.photos_of(row.subject_id))
            self._audit.append(
                tx,
                "alert.show",
                object_type="sighting",
                object_id=sighting_id,
                purpose=(
                    self._ctx.watchlist_purpose(watchlist)
                    if watchlist is not None
                    else "security desk"
                ),
                details={"camera": row.camera_id},
            )
        return AlertReview(
            alert,
            name,
            watchlist.name if watchlist is not None else row.watchlist_id,
            camera.name if camera is not None else row.camera_id,
            open_place(self._ctx.freetext, camera).label if camera is not None else "",
            row.thumbnail is not None,
            has_enrolled,
            note,
            notes,
        )

    def photo(self, sighting_id: str, which: str, *, role: str) -> bytes:
        """One photo of an alert as JPEG (audited: ``alert.photo``).

        ``captured`` is the face crop the camera kept with the sighting;
        ``enrolled`` the subject's first kept enrollment photo. Both are
        decrypted for this answer only and scaled down to a thumbnail.

        Raises:
            PermissionDeniedError: the role may not.
            InvalidInputError: ``which`` is neither photo.
            NotFoundError: no such alert in the live window, or no such photo kept.
        """
        check_desk_role(role)
        if which not in PHOTOS:
            raise InvalidInputError(f"the photo is one of {', '.join(PHOTOS)}")
        with self._ctx.writing() as tx:
            row = self.window.live_row(tx, sighting_id)
            _, key = subject_row(tx, row.subject_id)
            if which == "captured":
                if row.thumbnail is None:
                    raise NotFoundError("this camera keeps no face crop with its sightings")
                data = self._ctx.envelope.decrypt(
                    row.thumbnail,
                    data_key=key,
                    table="sightings",
                    row=sighting_id,
                    field="thumbnail",
                )
            else:
                kept = kept_photo(self._ctx.envelope, tx, row.subject_id, key)
                if kept is None:
                    raise NotFoundError(
                        "no enrollment photo is kept for this subject "
                        "(FACEWARDEN_KEEP_ENROLLMENT_PHOTOS is off)"
                    )
                _, data = kept
            self._audit.append(
                tx,
                "alert.photo",
                object_type="sighting",
                object_id=sighting_id,
                purpose="security desk: human review",
                details={"photo": which},
            )
        return thumbnail(data)

    def decide(
        self, sighting_id: str, decision: str, *, role: str, note: str | None = None
    ) -> DeskAlert:
        """Acknowledge, dismiss or escalate an alert, with an optional note (audited).

        Escalated means handed on (to a supervisor, the police: the note says
        to whom); like the others it takes the alert off every desk's queue.

        Raises:
            PermissionDeniedError: the role may not.
            InvalidInputError: an unknown decision or a note too long.
            NotFoundError: no such alert in the live window.
            ConflictError: it was decided already.
        """
        check_desk_role(role)
        if decision not in ALERT_DECISIONS:
            raise InvalidInputError(f"the decision is one of {', '.join(ALERT_DECISIONS)}")
        text = note_text(note, required=False)
        now = self._ctx.clock()
        with self._ctx.writing() as tx:
            row = self.window.live_row(tx, sighting_id)
            _, key = subject_row(tx, row.subject_id)
            sealed = (
                self._ctx.envelope.encrypt_str(
                    text, data_key=key, table="alert_decisions", row=sighting_id, field="note"
                )
                if text
                else None
            )
            stored = AlertDecisionRow(sighting_id, decision, self._audit.actor, now, sealed)
            if not tx.decide_alert(stored):
                raise ConflictError(f"alert {sighting_id} was already decided")
            self._audit.append(
                tx,
                _DECISION_ACTIONS[decision],
                object_type="sighting",
                object_id=sighting_id,
                purpose="security desk",
                details={"note": bool(text)},
            )
            return self.window.alert(tx, row)

    def add_note(self, sighting_id: str, note: str, *, role: str) -> AlertNote:
        """Add a note to an alert after its decision (append-only, sealed, audited).

        What is learnt later ("confirmed with the guard on site") is kept
        with who wrote it and when; the decision and its own note stand
        (:mod:`facewarden.service.alert_notes`).

        Raises:
            PermissionDeniedError: the role may not.
            InvalidInputError: an empty note, or one too long.
            NotFoundError: no such alert in the live window.
            ConflictError: the alert is not decided yet (its note goes with the
                decision), or holds as many notes as it may.
        """
        check_desk_role(role)
        text = note_text(note, required=True)
        with self._ctx.writing() as tx:
            row = self.window.live_row(tx, sighting_id)
            _, key = subject_row(tx, row.subject_id)
            if len(tx.alert_notes(sighting_id)) >= NOTES_PER_ALERT:
                raise ConflictError(
                    f"alert {sighting_id} holds {NOTES_PER_ALERT} notes already, as many as it may"
                )
            added = sealed_note(
                self._ctx.envelope, key, sighting_id, self._audit.actor, self._ctx.clock(), text
            )
            if not tx.add_alert_note(added):
                raise ConflictError(
                    f"alert {sighting_id} is not decided yet: type the note with the decision"
                )
            self._audit.append(
                tx,
                "alert.note",
                object_type="sighting",
                object_id=sighting_id,
                purpose="security desk",
                details={"notes": len(tx.alert_notes(sighting_id))},
            )
        return AlertNote(added.written_by, added.written_at, text)
