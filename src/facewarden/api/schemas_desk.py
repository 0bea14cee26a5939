"""Request and response bodies of the security desk: alerts, their review, history requests.

See :mod:`facewarden.api.routes.desk`. An alert in a list carries ids
only; its review (``AlertReviewOut``) names the subject, for the roles
allowed and audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from facewarden.api.schemas_cameras import SightingBase, alert_fields
from facewarden.service.alert_desk_results import AlertNote, AlertReview, DeskAlert, DeskFigures
from facewarden.service.history_requests import HistoryRequestView

__all__ = [
    "AlertDecisionIn",
    "AlertNoteIn",
    "AlertNoteOut",
    "AlertOut",
    "AlertReviewOut",
    "AlertSeverityIn",
    "AlertSeverityOut",
    "CameraHealthOut",
    "DeskOut",
    "HistoryRequestListOut",
    "HistoryRequestOut",
    "WatchlistPatchIn",
]

Severity = Literal["alarm", "alert", "log"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AlertOut(SightingBase):
    """An alert by ids: a watchlist subject's sighting, how loud, and what was decided."""

    best_similarity: float
    severity: Severity
    decision: Literal["acknowledged", "dismissed", "escalated"] | None
    decided_by: str | None
    decided_at: datetime | None

    @classmethod
    def from_alert(cls, alert: DeskAlert) -> AlertOut:
        """The body of one alert."""
        return cls(**alert_fields(alert), best_similarity=alert.sighting.best_similarity)


class AlertNoteOut(BaseModel):
    """A note added to an alert after its decision."""

    written_by: str
    written_at: datetime
    note: str

    @classmethod
    def from_note(cls, note: AlertNote) -> AlertNoteOut:
        """The body of one note."""
        return cls(written_by=note.written_by, written_at=note.written_at, note=note.note)


class AlertReviewOut(BaseModel):
    """An alert opened for review: who it names, where, and which photos there are."""

    alert: AlertOut
    full_name: str | None
    watchlist_name: str
    camera_name: str
    camera_location: str
    photos: list[Literal["captured", "enrolled"]] = Field(
        description="the photos kept: GET .../photos/{photo} for each"
    )
    note: str | None
    notes: list[AlertNoteOut] = Field(
        default_factory=list, description="notes added after the decision, oldest first"
    )

    @classmethod
    def from_review(cls, review: AlertReview) -> AlertReviewOut:
        """The body of one review."""
        photos: list[Literal["captured", "enrolled"]] = []
        if review.has_captured:
            photos.append("captured")
        if review.has_enrolled:
            photos.append("enrolled")
        return cls(
            alert=AlertOut.from_alert(review.alert),
            full_name=review.full_name,
            watchlist_name=review.watchlist_name,
            camera_name=review.camera_name,
            camera_location=review.camera_location,
            photos=photos,
            note=review.note,
            notes=[AlertNoteOut.from_note(n) for n in review.notes],
        )


class AlertDecisionIn(_In):
    """An optional note with an acknowledgement or dismissal (kept encrypted)."""

    note: str | None = Field(default=None, max_length=500)


class AlertNoteIn(_In):
    """A note added to an alert after its decision (kept encrypted)."""

    note: str = Field(min_length=1, max_length=500)


class AlertSeverityIn(_In):
    """How loud a watchlist's alerts are."""

    severity: Severity


class WatchlistPatchIn(_In):
    """Corrections to a watchlist's declared purpose and lawful basis."""

    purpose: str | None = Field(default=None, min_length=1, max_length=128)
    lawful_basis: str | None = Field(default=None, min_length=1, max_length=256)


class AlertSeverityOut(BaseModel):
    """A watchlist's alert severity."""

    watchlist_id: str
    severity: Severity


class CameraHealthOut(BaseModel):
    """One camera's health at the desk (no person in it)."""

    camera_id: str
    name: str
    sensitive: bool
    state: str
    frames: int | None
    last_frame_at: datetime | None
    fps: float | None
    error: str | None


class DeskOut(BaseModel):
    """The desk's figures: counts only, naming no one (not audited)."""

    window_minutes: int
    open_alerts: dict[str, int]
    alerts: int
    sightings_today: int
    cameras: list[CameraHealthOut]

    @classmethod
    def from_figures(cls, figures: DeskFigures, cameras: list[CameraHealthOut]) -> DeskOut:
        """The body of the desk's figures."""
        return cls(
            window_minutes=figures.window_minutes,
            open_alerts=figures.open_alerts,
            alerts=figures.alerts,
            sightings_today=figures.sightings_today,
            cameras=cameras,
        )


class HistoryRequestOut(BaseModel):
    """A location-history request with its state."""

    request_id: str
    subject_id: str
    hours: int
    case_reference: str
    reason: str | None
    requested_by: str
    created_at: datetime
    status: Literal["pending", "approved", "refused"]
    decided_by: str | None
    decided_at: datetime | None

    @classmethod
    def from_view(cls, view: HistoryRequestView) -> HistoryRequestOut:
        """The body of one request."""
        return cls(
            request_id=view.request_id,
            subject_id=view.subject_id,
            hours=view.hours,
            case_reference=view.case_reference,
            reason=view.reason,
            requested_by=view.requested_by,
            created_at=view.created_at,
            status=view.status,  # type: ignore[arg-type]
            decided_by=view.decided_by,
            decided_at=view.decided_at,
        )


class HistoryRequestListOut(BaseModel):
    """Requests, newest first."""

    requests: list[HistoryRequestOut]
