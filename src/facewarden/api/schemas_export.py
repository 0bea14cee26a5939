"""The body of a subject's export (``GET /v1/subjects/{id}/export``), for the OpenAPI document.

The export is streamed as it is read (:mod:`facewarden.service.export`), so
these models are never built by the route: they describe what it writes,
and schemathesis checks the answers against them. The format, field by
field, is ``docs/subject-export.md``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from facewarden.api.schemas import RecordOut

__all__ = ["ExportOut"]


class ExportFaceOut(BaseModel):
    """A face in an export: its photo if kept; never its template (SECURITY.md promise 8)."""

    face_id: str
    model: str
    created_at: str
    photo_jpeg_base64: str | None


class ExportWatchlistOut(BaseModel):
    """A watchlist, with its declared purpose and basis."""

    watchlist_id: str
    name: str
    purpose: str
    lawful_basis: str


class ExportAuditOut(BaseModel):
    """An audit entry about the exported subject, with its chain hashes."""

    model_config = ConfigDict(extra="allow")

    seq: int
    ts: str
    actor: str
    action: str


class ExportCameraOut(BaseModel):
    """Where a sighting was: the camera and its place (``camera_id`` alone if it is gone)."""

    camera_id: str
    name: str | None = None
    location: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class ExportSightingWatchlistOut(BaseModel):
    """The watchlist a sighting matched against (``watchlist_id`` alone if it was deleted)."""

    watchlist_id: str
    name: str | None = None
    purpose: str | None = None
    lawful_basis: str | None = None


class ExportDecisionOut(BaseModel):
    """The desk's decision about a sighting's alert, with the note typed with it."""

    decision: str
    decided_by: str
    decided_at: str
    note: str | None


class ExportNoteOut(BaseModel):
    """A note the desk added to the alert after its decision."""

    written_by: str
    written_at: str
    note: str


class ExportSightingOut(BaseModel):
    """One sighting of the subject still kept, with what the desk did about it."""

    sighting_id: str
    camera: ExportCameraOut
    watchlist: ExportSightingWatchlistOut
    first_seen: str
    last_seen: str
    best_similarity: float
    severity: str | None
    expires_at: str
    face_crop_jpeg_base64: str | None
    decision: ExportDecisionOut | None
    notes: list[ExportNoteOut]
    audit: list[ExportAuditOut]


class ExportHistoryRequestOut(BaseModel):
    """A request to see the subject's location history; its typed text is marked."""

    request_id: str
    hours: int
    requested_by: str
    requested_at: str
    status: str
    decided_by: str | None
    decided_at: str | None
    case_reference: str
    reason: str | None


class ExportRestrictionOut(BaseModel):
    """A restriction of processing (GDPR Art. 18): why, since when, the watchlists left."""

    reason: str
    since: str
    watchlists_left: list[str]


class ExportOut(BaseModel):
    """Everything held on a subject (GDPR Art. 15 and 20), and who accessed it."""

    format: str
    exported_at: str
    subject_id: str
    record: RecordOut
    created_at: str
    updated_at: str
    faces: list[ExportFaceOut]
    watchlists: list[ExportWatchlistOut]
    restriction: ExportRestrictionOut | None
    history_requests: list[ExportHistoryRequestOut]
    sightings: list[ExportSightingOut]
    audit: list[ExportAuditOut]
