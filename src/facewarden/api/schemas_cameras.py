"""The native API's bodies for cameras, pushed frames, crowd reports, sightings and alerts.

The same rules as :mod:`facewarden.api.schemas` hold: only what a model
names is ever serialised. A camera's ``source`` (a file path or a stream
URL, which may carry a password) is never among them: only its kind is.
Sightings name subjects by id only, never by name or face.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from facewarden.service.alert_desk_results import DeskAlert
from facewarden.service.cameras import Camera
from facewarden.service.crowd_report import CrowdBucket
from facewarden.service.sightings import Sighting
from facewarden.vision.sources import source_kind as vision_source_kind

__all__ = [
    "AlertDecidedOut",
    "AlertsOut",
    "CameraIn",
    "CameraListOut",
    "CameraOut",
    "CrowdBucketOut",
    "CrowdOut",
    "FrameOut",
    "HistoryIn",
    "HistoryOut",
    "IsoTime",
    "OccupancyAlertOut",
    "SightingAlertOut",
    "SightingListOut",
    "SightingOut",
    "SourceKind",
    "StreamEndOut",
    "source_kind",
]

SourceKind = Literal["file", "stream", "push"]

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_only(value: object) -> object:
    # Pydantic would take "0.5" for a Unix time: a query or form time is ISO-8601 only.
    if isinstance(value, str) and not _ISO.match(value.strip()):
        raise ValueError("expected an ISO-8601 date and time, e.g. 2026-01-31T08:00:00+00:00")
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso_only)]
"""A date and time written in ISO-8601 (whether it has a time zone is checked by the route)."""


def source_kind(source: str | None, *, pushed: bool = False) -> SourceKind | None:
    """How a camera gets its frames (never the source itself: it may hold a password).

    ``file`` or ``stream`` for a camera with a source (an ingest worker reads
    it); ``push`` for one without, while frames are pushed to it over the
    API (``pushed``); else None.
    """
    if source is None:
        return "push" if pushed else None
    return "stream" if vision_source_kind(source) == "stream" else "file"


class _In(BaseModel):
    # Strict: a JSON 0 is no false, a "24" no number (the schema says so too).
    model_config = ConfigDict(extra="forbid", strict=True)


# -- cameras ---------------------------------------------------------------


class CameraIn(_In):
    """A new camera (what ``facewarden cameras add`` takes)."""

    name: str = Field(min_length=1, max_length=64)
    location: str = Field(min_length=1, max_length=128)
    latitude: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    longitude: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    sensitive: bool | None = Field(
        default=None,
        description="count only, never identify; left out: as the place was (a place where "
        "a sensitive camera was stays sensitive), else false. false at such a place: admin only",
    )
    watchlists: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=32, description="ids or names of the watchlists checked"
    )
    source: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="a video file or an rtsp:// or http(s):// URL (never shown again); "
        "leave it out (or write push) for a camera whose frames are pushed over the API",
    )
    retention_hours: int | None = Field(
        default=None,
        ge=1,
        le=24 * 365,
        description="sighting retention here; above the deployment's: admin only",
    )
    keep_thumbnails: bool = False


class CameraOut(BaseModel):
    """A camera and, when an ingest worker runs it, its state (never its source)."""

    camera_id: str
    name: str
    location: str
    latitude: float | None
    longitude: float | None
    sensitive: bool
    watchlists: list[str]
    retention_hours: int | None
    keep_thumbnails: bool
    source_kind: SourceKind | None
    state: str
    error: str | None
    frames: int
    sightings: int

    @classmethod
    def from_camera(
        cls,
        camera: Camera,
        *,
        state: str = "idle",
        error: str | None = None,
        frames: int = 0,
        sightings: int = 0,
        pushed: bool = False,
    ) -> CameraOut:
        """Map a service camera and its ingest state."""
        return cls(
            camera_id=camera.camera_id,
            name=camera.name,
            location=camera.location,
            latitude=camera.latitude,
            longitude=camera.longitude,
            sensitive=camera.sensitive,
            watchlists=list(camera.watchlists),
            retention_hours=camera.retention_hours,
            keep_thumbnails=camera.keep_thumbnails,
            source_kind=source_kind(camera.source, pushed=pushed),
            state=state,
            error=error,
            frames=frames,
            sightings=sightings,
        )


class CameraListOut(BaseModel):
    """Every camera, by name."""

    cameras: list[CameraOut]


# -- pushed frames ---------------------------------------------------------


class FrameOut(BaseModel):
    """What one pushed frame gave: counts and the ids of new sightings, nobody's identity."""

    taken_at: datetime
    faces: int
    people: int | None
    new_sightings: list[str]


class StreamEndOut(BaseModel):
    """A pushed stream ended: how many frames it had and how many sightings it made."""

    ended: bool
    frames: int
    sightings: int


# -- crowd -----------------------------------------------------------------


class CrowdBucketOut(BaseModel):
    """One time bucket of a camera's anonymous counts; null where a count was suppressed."""

    start: datetime
    seconds: int
    frames: int
    faces_max: int | None
    faces_mean: float | None
    people_max: int | None
    people_mean: float | None
    unique_visitors: int | None
    dwell: dict[str, int | None]
    heatmap: list[list[int | None]]

    @classmethod
    def from_bucket(cls, bucket: CrowdBucket) -> CrowdBucketOut:
        """Map a reported (suppressed) bucket."""
        return cls(
            start=bucket.start,
            seconds=bucket.seconds,
            frames=bucket.frames,
            faces_max=bucket.faces_max,
            faces_mean=bucket.faces_mean,
            people_max=bucket.people_max,
            people_mean=bucket.people_mean,
            unique_visitors=bucket.unique_visitors,
            dwell=dict(bucket.dwell),
            heatmap=[list(row) for row in bucket.heatmap],
        )


class CrowdOut(BaseModel):
    """A camera's crowd buckets in a time range; counts below ``min_count`` are null."""

    camera: str
    min_count: int
    buckets: list[CrowdBucketOut]


# -- sightings -------------------------------------------------------------


class SightingBase(BaseModel):
    """What every sighting body opens with: who was seen, where and when, by ids only."""

    sighting_id: str
    subject_id: str
    camera_id: str
    watchlist_id: str
    first_seen: datetime
    last_seen: datetime


def sighting_fields(sighting: Sighting) -> dict[str, Any]:
    """The :class:`SightingBase` fields of a service sighting."""
    return {name: getattr(sighting, name) for name in SightingBase.model_fields}


def alert_fields(alert: DeskAlert) -> dict[str, Any]:
    """An alert's sighting fields, how loud it is and what was decided."""
    return {
        **sighting_fields(alert.sighting),
        "severity": alert.severity,
        "decision": alert.decision,
        "decided_by": alert.decided_by,
        "decided_at": alert.decided_at,
    }


class SightingOut(SightingBase):
    """One visit of a watchlist subject to a camera (a candidate match, by ids only)."""

    best_similarity: float
    expires_at: datetime
    has_thumbnail: bool = Field(
        default=False,
        description="a face crop is kept: GET /v1/alerts/{id}/photos/captured while live",
    )

    @classmethod
    def from_sighting(cls, sighting: Sighting) -> SightingOut:
        """Map a service sighting (its thumbnail, if any, stays out: only whether there is one)."""
        return cls(
            **sighting_fields(sighting),
            best_similarity=round(sighting.best_similarity, 4),
            expires_at=sighting.expires_at,
            has_thumbnail=sighting.has_thumbnail,
        )


class SightingListOut(BaseModel):
    """Sightings, oldest first; ``truncated`` when more matched than the limit."""

    sightings: list[SightingOut]
    truncated: bool


class HistoryIn(_In):
    """A location-history query: how far back, and the case it is for.

    With second-person approval configured, the first call answers a pending
    ``request_id``; once another investigator approved it, the same call with
    that ``request_id`` answers the sightings.
    """

    hours: int = Field(ge=1, le=24 * 31)
    case_reference: str = Field(max_length=128)
    request_id: str | None = Field(default=None, min_length=1, max_length=64)
    reason: str | None = Field(
        default=None, max_length=500, description="why, for the approver (kept encrypted)"
    )


class HistoryOut(BaseModel):
    """``done`` with the sightings, or ``pending`` with the request a second person approves."""

    status: Literal["done", "pending"]
    request_id: str | None
    sightings: list[SightingOut]


# -- alerts ----------------------------------------------------------------


class SightingAlertOut(SightingBase):
    """A recent sighting of a watchlist subject (ids only), how loud, and what was decided."""

    severity: Literal["alarm", "alert", "log"] = "alert"
    decision: Literal["acknowledged", "dismissed", "escalated"] | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None

    @classmethod
    def from_alert(cls, alert: DeskAlert) -> SightingAlertOut:
        """The body of one alert."""
        return cls(**alert_fields(alert))


class OccupancyAlertOut(BaseModel):
    """A camera's people in view reached the occupancy threshold."""

    camera_id: str
    people: int
    threshold: int
    at: datetime


class AlertDecidedOut(BaseModel):
    """A decision taken on an alert (by any operator): ids and the decision only."""

    sighting_id: str
    decision: Literal["acknowledged", "dismissed", "escalated"]
    decided_by: str | None
    decided_at: datetime


class AlertsOut(BaseModel):
    """The console's notifications since ``since``, newest first, each list capped."""

    since: datetime
    sightings: list[SightingAlertOut]
    occupancy: list[OccupancyAlertOut]
    next_cursor: str | None = Field(
        default=None,
        description="more sightings match: ask again with cursor set to this for the next page",
    )
    recorded_to: int = Field(
        default=0,
        description="where the record of sightings stood: recorded_after=this reads on from it",
    )
    gone: list[str] = Field(
        default_factory=list,
        description="those of the held alerts that have left the desk (erased, expired, "
        "past the live window, their camera removed or sensitive)",
    )
    decided: list[AlertDecidedOut] = Field(
        default_factory=list,
        description="alerts of the live window decided at or after decided_since (when asked): "
        "the earliest ones when more were, listed latest first",
    )
    decided_cursor: str | None = Field(
        default=None,
        description="more decisions than this page: ask again with decided_cursor set to this "
        "(and the same decided_since) for the next",
    )
