"""What the security desk answers: an alert, an alert opened for review, the desk's counts.

Plain frozen results built by :class:`~facewarden.service.alert_desk.AlertDesk`
and rendered by the API's desk schemas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from facewarden.service.sightings import Sighting

__all__ = ["AlertNote", "AlertReview", "DeskAlert", "DeskDecision", "DeskFigures"]


@dataclass(frozen=True)
class DeskAlert:
    """One alert at the desk: the sighting, how loud, and what was decided (no name)."""

    sighting: Sighting
    severity: str
    decision: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True)
class DeskDecision:
    """A decision taken on an alert, by any desk: ids and the decision only (no person)."""

    sighting_id: str
    decision: str
    decided_by: str
    decided_at: datetime


@dataclass(frozen=True)
class AlertNote:
    """A note added to an alert after its decision: who wrote it, when, and what."""

    written_by: str
    written_at: datetime
    note: str


@dataclass(frozen=True)
class AlertReview:
    """An alert opened for review: who it names and what there is to look at.

    Attributes:
        alert: the alert.
        full_name: the subject's name.
        watchlist_name: the watchlist matched against.
        camera_name: where.
        camera_location: the camera's location label.
        has_captured: a captured face crop is kept (the camera keeps thumbnails).
        has_enrolled: an enrollment photo is kept.
        note: the note typed with the decision, if any.
        notes: the notes added after the decision, oldest first.
    """

    alert: DeskAlert
    full_name: str | None
    watchlist_name: str
    camera_name: str
    camera_location: str
    has_captured: bool
    has_enrolled: bool
    note: str | None
    notes: tuple[AlertNote, ...] = ()


@dataclass(frozen=True)
class DeskFigures:
    """The desk's counts: numbers only, naming no one (not audited).

    Attributes:
        open_alerts: undecided alerts in the live window, by severity.
        alerts: every alert in the live window.
        sightings_today: sightings first seen since midnight UTC.
        window_minutes: the live window.
    """

    open_alerts: dict[str, int]
    alerts: int
    sightings_today: int
    window_minutes: int
