"""Sightings: who on a watchlist was seen at a camera, a subject's history, console alerts.

Every read of sightings is audited by the service. A subject's location
history is an investigator's, with a case reference, and (when
``history_needs_approval`` is set) a second investigator's approval first:
the first call answers 202 with a pending ``request_id``, another
investigator (or an admin) approves it, and the same call with that
``request_id`` answers the sightings. Sightings name subjects by id only.

Alerts are the console's notifications: sightings of watchlist subjects
first seen since the caller's last answer (audited when there are any: the
console polls every few seconds) and the occupancy
alerts of cameras (stored, counts only: every server of a deployment
answers the same, after a restart too).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from facewarden.api.auth import allow, require
from facewarden.api.routes.cameras import FUTURE_TOLERANCE, aware
from facewarden.api.schemas_cameras import (
    AlertDecidedOut,
    AlertsOut,
    HistoryIn,
    HistoryOut,
    IsoTime,
    OccupancyAlertOut,
    SightingAlertOut,
    SightingListOut,
    SightingOut,
)
from facewarden.api.state import acting_warden
from facewarden.service.alert_feed import DecisionPage
from facewarden.service.records import invalid_input
from facewarden.service.roles import Principal
from facewarden.service.warden import Warden

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["sightings"])
_JSON = "application/json"
_Warden = Annotated[Warden, Depends(acting_warden)]
_Time = Annotated[IsoTime | None, Query(description="ISO-8601 with a time zone")]
_Ref = Annotated[str, Query(min_length=1, max_length=64)]
_Id = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/sightings", response_model=SightingListOut, **allow("operator", "investigator"))
def at_camera(
    warden: _Warden,
    principal: Annotated[Principal, Depends(require("operator", "investigator"))],
    camera: Annotated[str, Query(min_length=1, max_length=64, description="camera id or name")],
    watchlist: Annotated[
        str, Query(min_length=1, max_length=64, description="watchlist id or name")
    ],
    start: _Time = None,
    end: _Time = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> SightingListOut:
    """Who on ``watchlist`` is at ``camera`` within the live window (audited).

    The live window (``live_window_minutes``, default one hour) is all this
    route reaches: ``start`` defaults to its beginning, and a ``start`` before
    it is refused (403, audited). Anything older about a person is a location
    history, asked for with a case reference. Oldest first, at most ``limit``.
    """
    now = warden.clock()
    first = aware("start", start) if start is not None else None
    last = aware("end", end) if end is not None else now + FUTURE_TOLERANCE
    if first is not None and first >= last:
        raise invalid_input("start must be before end")
    found = warden.sightings.at_camera(
        watchlist, camera, first, last, role=principal.role, shown=limit
    )
    return SightingListOut(
        sightings=[SightingOut.from_sighting(s) for s in found[:limit]],
        truncated=len(found) > limit,
    )


@router.post(
    "/subjects/{subject_id}/history",
    response_model=HistoryOut,
    responses={202: {"model": HistoryOut, "description": "waiting for a second approver"}},
    **allow("investigator", media=_JSON),
)
def history(
    subject_id: _Id,
    query: HistoryIn,
    response: Response,
    warden: _Warden,
    principal: Annotated[Principal, Depends(require("investigator"))],
) -> HistoryOut:
    """Where a subject was seen in the last ``hours`` hours, for a case (audited, refusals too).

    202 with a pending ``request_id`` when a second person must approve first.
    """
    result = warden.sightings.history(
        subject_id,
        query.hours,
        role=principal.role,
        case_reference=query.case_reference,
        request_id=query.request_id,
        reason=query.reason or "",
    )
    if result.pending:
        response.status_code = 202
        return HistoryOut(status="pending", request_id=result.request_id, sightings=[])
    return HistoryOut(
        status="done",
        request_id=result.request_id,
        sightings=[SightingOut.from_sighting(s) for s in result.sightings],
    )


@router.post(
    "/history-requests/{request_id}/approve",
    status_code=204,
    response_class=Response,
    **allow("admin", "investigator"),
)
def approve(
    request_id: _Id,
    warden: _Warden,
    principal: Annotated[Principal, Depends(require("admin", "investigator"))],
) -> Response:
    """Approve another person's pending history request (audited; not your own: 403)."""
    warden.sightings.approve(request_id, role=principal.role)
    return Response(status_code=204)


@router.get("/alerts", response_model=AlertsOut, **allow("operator"))
def alerts(
    request: Request,
    warden: _Warden,
    principal: Annotated[Principal, Depends(require("operator"))],
    since: _Time = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    state: Annotated[
        Literal["open", "decided", "all"],
        Query(description="open: not yet acknowledged or dismissed"),
    ] = "all",
    severity: Annotated[Literal["alarm", "alert", "log"] | None, Query()] = None,
    camera: Annotated[
        str | None, Query(min_length=1, max_length=64, description="camera id or name")
    ] = None,
    order: Annotated[
        Literal["newest", "oldest", "severity"],
        Query(
            description="oldest: to read a burst page by page, moving since forward; "
            "severity: alarms, then alerts, then log entries, each newest first"
        ),
    ] = "newest",
    decided_since: Annotated[
        IsoTime | None,
        Query(description="also answer the alerts decided at or after this (ISO-8601)"),
    ] = None,
    decided_cursor: Annotated[
        str | None,
        Query(
            max_length=200,
            description="the decided_cursor of the answer before, with the same decided_since: "
            "the next page of decisions",
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(
            max_length=200,
            description="the next_cursor of the page before, with the same order and filters",
        ),
    ] = None,
    recorded_after: Annotated[
        int | None,
        Query(
            ge=0,
            le=2**62,
            description="the recorded_to of the answer before: only the alerts recorded "
            "since then, in the order recorded, whenever they were first seen",
        ),
    ] = None,
    held: Annotated[
        str | None,
        Query(
            max_length=100 * 65,
            description="comma-separated ids of alerts this console shows (at most 100): "
            "those that have left the desk since are answered in gone",
        ),
    ] = None,
) -> AlertsOut:
    """Sightings first seen after ``since`` within the live window, and occupancy alerts.

    ``since`` defaults to (and is never taken further back than) the start of
    the live window (``live_window_minutes``, default one hour).

    Newest first (``order=oldest``: oldest first), each list at most ``limit``.
    Ask again with ``since`` set to the newest ``first_seen`` (or ``at``) you
    have for only what is new. When more alerts match than a page holds,
    ``next_cursor`` is set: the same query with ``cursor`` set to it reads the
    next page (keyset paging: alerts decided meanwhile move no other alert, so
    none is skipped or shown twice); a cursor not given here is a 400. A read
    that finds sightings is audited (one entry); occupancy alerts are read from
    the store, so every server answers the same. With ``decided_since``,
    ``decided`` also lists the alerts of the live window that any operator
    decided since then (ids and decision only, not audited), so that every
    desk drops them from its queue: a page
    holds the ``limit`` earliest of them (listed latest first), and
    ``decided_cursor``, when set, reads the next with the same ``decided_since``
    (a console that fell behind reads them all, the first decision too).

    ``recorded_to`` is where the record of sightings stood: asked again with
    ``recorded_after`` set to it, the answer holds the alerts recorded since,
    in the order recorded, whatever their ``first_seen`` (a face tracked from
    afar is identified seconds later, a lagging camera's frames are processed
    late: a reader moving ``since`` forward would miss those); ``since`` then
    only bounds the occupancy alerts. A full page means more: ask again from
    its ``recorded_to``. With
    ``held``, ``gone`` names those of the given alerts that have left the desk
    (the subject erased, the sighting expired or past the live window, the
    camera removed or made sensitive), so that no console keeps showing them
    (ids only, not audited).
    """
    now = warden.clock()
    # Never further back than the live window: alerts are not a movement history.
    floor = warden.sightings.live_since()
    start = max(aware("since", since), floor) if since is not None else floor
    end = now + FUTURE_TOLERANCE
    if start >= end:
        raise invalid_input("since is in the future")
    if recorded_after is not None:
        if cursor is not None:
            raise invalid_input("give either cursor or recorded_after, not both")
        seen = warden.alert_feed.recorded_after(
            recorded_after,
            role=principal.role,
            state=state,
            severity=severity,
            camera=camera,
            limit=limit,
        )
        recorded_to = int(seen.next_cursor or recorded_after)
    else:
        recorded_to = warden.alert_feed.position()  # before the read: nothing falls between
        seen = warden.alert_desk.alerts(
            role=principal.role,
            since=start,
            state=state,
            severity=severity,
            camera=camera,
            limit=limit,
            order=order,
            cursor=cursor,
        )
    occupancy = warden.crowd.occupancy_alerts(
        start,
        limit,
        camera_id=None if camera is None else warden.cameras.get(camera).camera_id,
        role=principal.role,
    )
    if decided_since is None:
        if decided_cursor is not None:
            raise invalid_input("decided_cursor goes with the decided_since it was given for")
        decided = DecisionPage([], None)
    else:
        decided = warden.alert_feed.decided_since(
            role=principal.role,
            since=aware("decided_since", decided_since),
            cursor=decided_cursor,
            limit=limit,
        )
    return AlertsOut(
        since=start,
        decided=[
            AlertDecidedOut.model_validate(
                {
                    "sighting_id": d.sighting_id,
                    "decision": d.decision,
                    "decided_by": d.decided_by,
                    "decided_at": d.decided_at,
                }
            )
            for d in decided.decisions
        ],
        decided_cursor=decided.next_cursor,
        sightings=[SightingAlertOut.from_alert(a) for a in seen.alerts],
        next_cursor=None if recorded_after is not None else seen.next_cursor,
        recorded_to=recorded_to,
        gone=[]
        if held is None
        else warden.alert_feed.gone([i for i in held.split(",") if i], role=principal.role),
        occupancy=[
            OccupancyAlertOut(
                camera_id=e.camera_id, people=e.people, threshold=e.threshold, at=e.at
            )
            for e in occupancy
        ],
    )
