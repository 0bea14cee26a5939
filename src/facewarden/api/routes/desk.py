"""The security desk: an alert's review with both photos, its decision, the desk's figures,
watchlist alert severity, and location-history requests as lists.

An alert is a watchlist subject's sighting within the live window (see
:mod:`facewarden.service.alert_desk`); the list is ``GET /v1/alerts``
(:mod:`facewarden.api.routes.sightings`). Opening one names the subject and
is audited (``alert.show``), as is each photo (``alert.photo``: answered as
a JPEG, never cached), each decision, and each note added after it
(``alert.note``: append-only). ``GET /v1/desk`` gives counts and
camera health only: no person, not audited. History requests: an
investigator's own (``?scope=mine``) survive a reload; an approver's list
(``?scope=pending``) holds everyone else's undecided ones, approved with
``POST /v1/history-requests/{id}/approve`` or refused with ``.../refuse``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from facewarden.api.auth import allow, require
from facewarden.api.schemas_desk import (
    AlertDecisionIn,
    AlertNoteIn,
    AlertNoteOut,
    AlertOut,
    AlertReviewOut,
    AlertSeverityIn,
    AlertSeverityOut,
    CameraHealthOut,
    DeskOut,
    HistoryRequestListOut,
    HistoryRequestOut,
    WatchlistPatchIn,
)
from facewarden.api.state import ServerState, acting_warden, server
from facewarden.service.camera_states import SharedState, read_states, shown_error
from facewarden.service.cameras import Camera
from facewarden.service.roles import Principal
from facewarden.service.warden import Warden
from facewarden.vision.sources import redact_text

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["security desk"])
_JSON = "application/json"
_Warden = Annotated[Warden, Depends(acting_warden)]
_Desk = Annotated[Principal, Depends(require("operator"))]
_Id = Annotated[str, Path(min_length=1, max_length=64)]
_JPEG: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the photo as JPEG (never cached)",
        "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.get("/alerts/{sighting_id}", response_model=AlertReviewOut, **allow("operator"))
def review_alert(sighting_id: _Id, warden: _Warden, principal: _Desk) -> AlertReviewOut:
    """Open an alert in the live window: the subject's name, camera, watchlist (audited)."""
    return AlertReviewOut.from_review(warden.alert_desk.review(sighting_id, role=principal.role))


@router.get(
    "/alerts/{sighting_id}/photos/{photo}",
    response_class=Response,
    responses=_JPEG,
    **allow("operator"),
)
def alert_photo(
    sighting_id: _Id,
    photo: Annotated[Literal["captured", "enrolled"], Path()],
    warden: _Warden,
    principal: _Desk,
) -> Response:
    """The face the camera captured, or the subject's enrolled photo (audited; no-store)."""
    return _jpeg(warden.alert_desk.photo(sighting_id, photo, role=principal.role))


def _decide(
    warden: Warden, principal: Principal, sighting_id: str, decision: str, body: AlertDecisionIn
) -> AlertOut:
    alert = warden.alert_desk.decide(sighting_id, decision, role=principal.role, note=body.note)
    return AlertOut.from_alert(alert)


@router.post(
    "/alerts/{sighting_id}/acknowledge", response_model=AlertOut, **allow("operator", media=_JSON)
)
def acknowledge_alert(
    sighting_id: _Id, body: AlertDecisionIn, warden: _Warden, principal: _Desk
) -> AlertOut:
    """Acknowledge an alert, with an optional note (audited; 409 when already decided)."""
    return _decide(warden, principal, sighting_id, "acknowledged", body)


@router.post(
    "/alerts/{sighting_id}/dismiss", response_model=AlertOut, **allow("operator", media=_JSON)
)
def dismiss_alert(
    sighting_id: _Id, body: AlertDecisionIn, warden: _Warden, principal: _Desk
) -> AlertOut:
    """Dismiss an alert (not the person), with an optional note (audited; 409 when decided)."""
    return _decide(warden, principal, sighting_id, "dismissed", body)


@router.post(
    "/alerts/{sighting_id}/escalate", response_model=AlertOut, **allow("operator", media=_JSON)
)
def escalate_alert(
    sighting_id: _Id, body: AlertDecisionIn, warden: _Warden, principal: _Desk
) -> AlertOut:
    """Escalate an alert: hand it on, the note saying to whom (audited; 409 when decided)."""
    return _decide(warden, principal, sighting_id, "escalated", body)


@router.post(
    "/alerts/{sighting_id}/notes",
    status_code=201,
    response_model=AlertNoteOut,
    **allow("operator", media=_JSON),
)
def add_alert_note(
    sighting_id: _Id, body: AlertNoteIn, warden: _Warden, principal: _Desk
) -> AlertNoteOut:
    """Add a note to an alert after its decision (append-only, audited; 409 while undecided)."""
    return AlertNoteOut.from_note(
        warden.alert_desk.add_note(sighting_id, body.note, role=principal.role)
    )


@router.put(
    "/watchlists/{ref}/alert-severity",
    response_model=AlertSeverityOut,
    **allow("operator", media=_JSON),
)
def set_alert_severity(
    ref: Annotated[str, Path(min_length=1, max_length=64)],
    body: AlertSeverityIn,
    warden: _Warden,
    principal: _Desk,
) -> AlertSeverityOut:
    """How loud a watchlist's alerts are: alarm, alert or log (audited)."""
    watchlist_id = warden.alert_desk.set_severity(ref, body.severity, role=principal.role)
    return AlertSeverityOut(watchlist_id=watchlist_id, severity=body.severity)


@router.patch(
    "/watchlists/{ref}",
    response_model=dict[str, Any],
    **allow("operator", media=_JSON),
)
def edit_watchlist(
    ref: Annotated[str, Path(min_length=1, max_length=64)],
    body: WatchlistPatchIn,
    warden: _Warden,
) -> dict[str, Any]:
    """Correct a watchlist's declared purpose and/or lawful basis (audited)."""
    edited = warden.watchlist_admin.edit(ref, purpose=body.purpose, lawful_basis=body.lawful_basis)
    return edited.to_dict()


@router.delete("/watchlists/{ref}", status_code=204, response_class=Response, **allow("operator"))
def delete_watchlist(
    ref: Annotated[str, Path(min_length=1, max_length=64)], warden: _Warden
) -> Response:
    """Delete a watchlist; its members come off it (audited; 409 while a camera checks it)."""
    warden.watchlist_admin.delete(ref)
    return Response(status_code=204)


@router.get("/desk", response_model=DeskOut, **allow("operator"))
def desk(request: Request, warden: _Warden) -> DeskOut:
    """The desk's figures: open alerts by severity, today's sightings, camera health.

    Numbers and camera states only, naming no one: not audited.
    """
    state = server(request)
    ingest = None if state.ingest is None else dict(state.ingest.states())
    every = warden.cameras.all()
    shared = read_states(warden, [c.camera_id for c in every])
    cameras = [_health(state, c, ingest, shared) for c in every]
    return DeskOut.from_figures(warden.alert_desk.figures(), cameras)


def _health(
    state: ServerState,
    camera: Camera,
    ingest: dict[str, Any] | None,
    shared: Mapping[str, SharedState],
) -> CameraHealthOut:
    status = None if ingest is None else ingest.get(camera.camera_id) or ingest.get(camera.name)
    if status is not None:
        error = None if status.error is None else redact_text(status.error, camera.source)
        return CameraHealthOut(
            camera_id=camera.camera_id,
            name=camera.name,
            sensitive=camera.sensitive,
            state=status.state,
            frames=status.frames,
            last_frame_at=None,
            fps=None,
            error=error,
        )
    stream = state.open_stream(camera.camera_id)
    if stream is not None and not stream.ended:
        return CameraHealthOut(
            camera_id=camera.camera_id,
            name=camera.name,
            sensitive=camera.sensitive,
            state="live",
            frames=stream.frames,
            last_frame_at=stream.last,
            fps=stream.fps,
            error=None,
        )
    published = shared.get(camera.camera_id)  # another process runs it
    if published is not None:
        return CameraHealthOut(
            camera_id=camera.camera_id,
            name=camera.name,
            sensitive=camera.sensitive,
            state=published.state,
            frames=published.frames,
            last_frame_at=published.last_frame_at,
            fps=published.fps,
            error=shown_error(published.error, camera.source),
        )
    return CameraHealthOut(
        camera_id=camera.camera_id,
        name=camera.name,
        sensitive=camera.sensitive,
        state="idle",
        frames=None,
        last_frame_at=None,
        fps=None,
        error=None,
    )


# -- enrolled photos for human review -------------------------------------------------

_Purpose = Annotated[str, Query(max_length=128, description="why (a case reference)")]
_Subject = Annotated[str, Path(min_length=1, max_length=64)]
_Reviewer = Annotated[Principal, Depends(require("operator", "investigator"))]


def _jpeg(data: bytes) -> Response:
    return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get(
    "/subjects/{subject_id}/photo",
    response_class=Response,
    responses=_JPEG,
    **allow("operator", "investigator"),
)
def subject_photo(
    subject_id: _Subject, warden: _Warden, principal: _Reviewer, purpose: _Purpose = ""
) -> Response:
    """The subject's first kept enrollment photo, to compare faces (audited; no-store).

    An investigator must give the case reference as ``purpose``.
    """
    return _jpeg(warden.review_photos.photo(subject_id, role=principal.role, purpose=purpose))


@router.get(
    "/subjects/{subject_id}/faces/{face_id}/photo",
    response_class=Response,
    responses=_JPEG,
    **allow("operator", "investigator"),
)
def face_photo(
    subject_id: _Subject,
    face_id: Annotated[str, Path(min_length=1, max_length=64)],
    warden: _Warden,
    principal: _Reviewer,
    purpose: _Purpose = "",
) -> Response:
    """The kept enrollment photo of one of the subject's faces (audited; no-store)."""
    return _jpeg(
        warden.review_photos.photo(
            subject_id, role=principal.role, purpose=purpose, face_id=face_id
        )
    )


# -- location-history requests -------------------------------------------------------


@router.get(
    "/history-requests", response_model=HistoryRequestListOut, **allow("admin", "investigator")
)
def history_requests(
    warden: _Warden,
    principal: Annotated[Principal, Depends(require("admin", "investigator"))],
    scope: Annotated[Literal["mine", "pending"], Query()] = "mine",
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> HistoryRequestListOut:
    """``mine``: the caller's requests with their state; ``pending``: others' to decide on.

    Both reach back 31 days, newest first; audited when they hold any.
    """
    if scope == "mine":
        found = warden.history_requests.mine(role=principal.role, limit=limit)
    else:
        found = warden.history_requests.pending(role=principal.role, limit=limit)
    return HistoryRequestListOut(requests=[HistoryRequestOut.from_view(v) for v in found])


@router.post(
    "/history-requests/{request_id}/refuse",
    status_code=204,
    response_class=Response,
    **allow("admin", "investigator"),
)
def refuse_history_request(
    request_id: _Id,
    warden: _Warden,
    principal: Annotated[Principal, Depends(require("admin", "investigator"))],
) -> Response:
    """Refuse another person's pending history request (audited; not your own: 403)."""
    warden.history_requests.refuse(request_id, role=principal.role)
    return Response(status_code=204)
