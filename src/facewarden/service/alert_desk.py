"""The security desk's alerts: severity per watchlist, review with photos, acknowledge or dismiss.

An alert is a sighting of a watchlist subject at a camera that is not
sensitive, first seen within the live window (``live_window_minutes``):
older ones are part of a person's movements and leave the desk (promise
18). Each watchlist says how loud its alerts are (:data:`SEVERITIES`):
``alarm`` (a persistent alarm with sound until someone acknowledges it),
``alert`` (a toast; the default) or ``log`` (the list only). An alert keeps
the severity it was raised with (:mod:`facewarden.service.alert_severity`).

Everything here that names a person is audited: the list of alerts when it
holds any (``sightings.alerts``, counts only), an alert shown with its subject's
name (``alert.show``), each photo viewed (``alert.photo``), and each
decision (``alert.acknowledge``, ``alert.dismiss``, ``alert.escalate``; the note typed with it
is sealed with the subject's data key), and each note added after it (``alert.note``,
:mod:`facewarden.service.alert_notes`). :meth:`AlertDesk.figures` gives the
desk's counts, which name no one and are not audited. What the desk answers
is :mod:`facewarden.service.alert_desk_results`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from facewarden.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from facewarden.service.alert_desk_results import (
    AlertNote,
    AlertReview,
    DeskAlert,
    DeskDecision,
    DeskFigures,
)
from facewarden.service.alert_notes import NOTES_PER_ALERT, note_text, open_notes, sealed_note
from facewarden.service.alert_pages import AlertPage, page_of, sort_alerts
from facewarden.service.alert_severity import (
    DEFAULT_SEVERITY,
    SEVERITIES,
    SEVERITY_KEY,
    alert_severity,
    watchlist_severity,
)
from facewarden.service.audit import AuditLog
from facewarden.service.camera_places import open_place
from facewarden.service.cameras import resolve_camera
from facewarden.service.context import Context
from facewarden.service.records import open_record
from facewarden.service.review_photos import kept_photo, thumbnail
from facewarden.service.sightings import Sighting, Sightings
from facewarden.service.subjects import subject_row
from facewarden.service.watchlists import resolve_watchlist
from facewarden.store.base import Reader
from facewarden.store.cameras import CameraRow, SightingRow
from facewarden.store.desk import ALERT_DECISIONS, AlertDecisionRow

__all__ = ["DEFAULT_SEVERITY", "HELD_LIMIT", "PHOTOS", "SEVERITIES", "AlertDesk", "thumbnail"]

HELD_LIMIT = 100
"""Alerts a console may ask about at once (:meth:`AlertDesk.gone`)."""
PHOTOS = ("captured", "enrolled")
"""The two photos of an alert: the face the camera captured, the subject's enrolled one."""
_DESK_ROLES = frozenset({"admin", "operator"})
_ALERT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_RECORD_SCAN = 20_000  # audit entries one read of what was recorded visits at most
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
        self._check(role)
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
        self._check(role)
        found = sort_alerts(self._filtered(since, camera, state, severity), order)
        page = page_of(found, order=order, cursor=cursor, limit=limit)
        self._audit_read(page.alerts)
        return page

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
        ask from next time (as text). Audited like :meth:`alerts`.

        Raises:
            PermissionDeniedError: the role may not watch alerts.
            InvalidInputError: an unknown state or severity, or a negative position.
            NotFoundError: an unknown camera.
        """
        self._check(role)
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
        live = {a.sighting.sighting_id: a for a in self._filtered(None, camera, state, severity)}
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
        self._audit_read(found)
        return AlertPage(found, str(reached))

    def decided_since(self, *, role: str, since: datetime) -> list[DeskDecision]:
        """Alerts of the live window decided at or after ``since``, latest decision first.

        What lets every desk see another operator's decision without reloading:
        the console asks for it with each poll and drops those alerts from its
        queue and alarm panel. Its answer carries ids and the decision only (no
        person, no place), so it is not audited, like :meth:`figures`. It reads
        the decisions on the live window's sightings only (an index range per
        camera), however long sightings are kept.

        Raises:
            PermissionDeniedError: the role may not watch alerts.
        """
        self._check(role)
        floor, end = self._sightings.live_since(), self._ctx.clock() + timedelta(minutes=5)
        store = self._ctx.store
        decided = [
            DeskDecision(d.sighting_id, d.decision, d.decided_by, d.decided_at)
            for cam in self._alert_cameras(None)
            for watchlist_id, d in store.alerts_decided_since(cam.camera_id, floor, end, since)
            if watchlist_id in cam.watchlists
        ]
        decided.sort(key=lambda d: (d.decided_at, d.sighting_id), reverse=True)
        return decided

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
        self._check(role)
        ids = list(dict.fromkeys(sighting_ids))
        if len(ids) > HELD_LIMIT:
            raise InvalidInputError(f"ask about at most {HELD_LIMIT} alerts at once")
        if not all(_ALERT_ID.fullmatch(i) for i in ids):
            raise InvalidInputError("an alert id is letters, digits, '_' and '-' (1 to 64)")
        store = self._ctx.store
        return [i for i in ids if not self._is_live(store, store.get_sighting(i))]

    def figures(self) -> DeskFigures:
        """The desk's counts (numbers only: not audited)."""
        self._ctx.ensure_open()
        window = self._window(since=None, camera=None)
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
        self._check(role)
        with self._ctx.writing() as tx:
            row = self._live_row(tx, sighting_id)
            alert = self._alert(tx, row)
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
        self._check(role)
        if which not in PHOTOS:
            raise InvalidInputError(f"the photo is one of {', '.join(PHOTOS)}")
        with self._ctx.writing() as tx:
            row = self._live_row(tx, sighting_id)
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
        self._check(role)
        if decision not in ALERT_DECISIONS:
            raise InvalidInputError(f"the decision is one of {', '.join(ALERT_DECISIONS)}")
        text = note_text(note, required=False)
        now = self._ctx.clock()
        with self._ctx.writing() as tx:
            row = self._live_row(tx, sighting_id)
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
            return self._alert(tx, row)

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
        self._check(role)
        text = note_text(note, required=True)
        with self._ctx.writing() as tx:
            row = self._live_row(tx, sighting_id)
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

    # -- helpers ------------------------------------------------------------------------

    def _check(self, role: str) -> None:
        if role not in _DESK_ROLES:
            raise PermissionDeniedError(f"role {role!r} may not work the security desk's alerts")

    def _filtered(
        self, since: datetime | None, camera: str | None, state: str, severity: str | None
    ) -> list[DeskAlert]:
        if state not in ("open", "decided", "all"):
            raise InvalidInputError("state must be open, decided or all")
        if severity is not None and severity not in SEVERITIES:
            raise InvalidInputError(f"severity must be one of {', '.join(SEVERITIES)}")
        found = self._window(since=since, camera=camera)
        if severity is not None:
            found = [a for a in found if a.severity == severity]
        if state == "open":
            found = [a for a in found if a.decision is None]
        elif state == "decided":
            found = [a for a in found if a.decision is not None]
        return found

    def _audit_read(self, alerts: list[DeskAlert]) -> None:
        if alerts:
            # One entry per answer that holds any (the console polls every
            # second for what is new; an empty answer reads nobody's whereabouts).
            self._audit.record(
                "sightings.alerts",
                object_type="camera",
                purpose="sighting alerts",
                details={
                    "cameras": len({a.sighting.camera_id for a in alerts}),
                    "sightings": len(alerts),
                },
            )

    def _alert_cameras(self, camera: str | None) -> list[CameraRow]:
        """The cameras whose sightings are alerts (not sensitive, watching a watchlist)."""
        store = self._ctx.store
        cameras = [c for c in store.list_cameras() if not c.sensitive and c.watchlists]
        if camera is not None:
            wanted = resolve_camera(store, camera).camera_id
            cameras = [c for c in cameras if c.camera_id == wanted]
        return cameras

    def _window(self, *, since: datetime | None, camera: str | None) -> list[DeskAlert]:
        floor = self._sightings.live_since()
        start = floor if since is None else max(since, floor)
        end = self._ctx.clock() + timedelta(minutes=5)
        store = self._ctx.store
        rows = [
            r
            for cam in self._alert_cameras(camera)
            for r in store.alert_sightings(cam.camera_id, start, end)
            if r.watchlist_id in cam.watchlists
        ]
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

    def _is_live(self, reader: Reader, row: SightingRow | None) -> bool:
        camera = None if row is None else reader.get_camera(row.camera_id)
        return (
            row is not None
            and camera is not None
            and not camera.sensitive
            and row.first_seen > self._sightings.live_since()
        )

    def _live_row(self, reader: Reader, sighting_id: str) -> SightingRow:
        row = reader.get_sighting(sighting_id)
        if row is None or not self._is_live(reader, row):
            raise NotFoundError(f"no alert {sighting_id} in the live window")
        return row

    def _alert(self, reader: Reader, row: SightingRow) -> DeskAlert:
        d = reader.alert_decisions([row.sighting_id]).get(row.sighting_id)
        return DeskAlert(
            Sighting.from_row(row),
            alert_severity(reader, row),
            None if d is None else d.decision,
            None if d is None else d.decided_by,
            None if d is None else d.decided_at,
        )
