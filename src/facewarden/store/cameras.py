"""The store's part for cameras: cameras, sightings, history requests, crowd buckets.

Part of the :mod:`facewarden.store.base` contract (its ``Reader`` and
``Transaction`` include these protocols). A sighting hangs off its subject
and its camera (erasing either erases it) and carries its own expiry, set by
the service from the camera's, the watchlist's or the deployment's
retention. Its thumbnail, when kept at all, arrives encrypted. Crowd buckets
are aggregates (counts, histograms, a coarse grid), never a face, and so are
occupancy alerts (a count that reached a threshold). A
camera's source arrives sealed too (it may hold a password); the store
never writes a plaintext source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

__all__ = [
    "CameraReader",
    "CameraRow",
    "CameraWriter",
    "CrowdBucketRow",
    "HistoryRequestRow",
    "OccupancyAlertRow",
    "SightingRow",
]


@dataclass(frozen=True)
class CameraRow:
    """A camera.

    Attributes:
        camera_id: random opaque id (``cam_<16 hex>``).
        name: unique, human-chosen.
        location: the service's sealed place (location label and coordinates,
            see :mod:`facewarden.service.camera_places`); a label in clear in a
            row stored before sealing.
        latitude: GPS latitude in degrees (``longitude`` likewise), or None; only
            in a row stored before sealing (the sealed place holds them now).
        watchlists: ids of the watchlists checked there.
        sensitive: no identification there, only anonymous counts.
        retention_hours: sighting retention for this camera, or None (the default).
        sealed_source: ciphertext of where its frames come from (a file path
            or stream URL, sealed by the service, bound to the camera id), or None.
        keep_thumbnails: keep an encrypted face thumbnail with each sighting.
        legacy_source: a plaintext source written before schema version 4,
            waiting for the service to seal it; None otherwise. Read only:
            :meth:`CameraWriter.insert_camera` refuses one, and
            :meth:`CameraWriter.set_camera_source` clears it.
    """

    camera_id: str
    name: str
    location: str
    latitude: float | None
    longitude: float | None
    watchlists: tuple[str, ...]
    sensitive: bool
    retention_hours: int | None
    sealed_source: bytes | None = field(repr=False)
    keep_thumbnails: bool
    created_at: datetime
    legacy_source: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SightingRow:
    """One visit of a watchlist subject to a camera.

    Attributes:
        sighting_id: random opaque id (``sig_<16 hex>``).
        subject_id: who (a candidate match, for a person to review).
        watchlist_id: the watchlist the match was made against.
        best_similarity: the best similarity of the visit's faces to the subject.
        expires_at: when the purge deletes it.
        thumbnail: ciphertext of a face crop (subject's data key), or None.
        severity: how loud its alert was when raised (the watchlist's severity
            then, kept as it was); None for sightings recorded before schema version 8.
    """

    sighting_id: str
    subject_id: str
    camera_id: str
    watchlist_id: str
    first_seen: datetime
    last_seen: datetime
    best_similarity: float
    expires_at: datetime
    thumbnail: bytes | None = field(default=None, repr=False)
    severity: str | None = None


@dataclass(frozen=True)
class HistoryRequestRow:
    """A request to see a subject's location history, waiting for a second person.

    Attributes:
        request_id: random opaque id (``req_<16 hex>``).
        hours: how far back.
        requested_by: the actor who asked.
        approved_by: the second actor who approved it, or None while pending.
        approved_at: when it was approved, or None.
    """

    request_id: str
    subject_id: str
    hours: int
    case_reference: str
    requested_by: str
    created_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None


@dataclass(frozen=True)
class CrowdBucketRow:
    """Anonymous aggregates of one camera over one time bucket.

    Attributes:
        seconds: the bucket's length.
        frames: frames processed in it.
        faces_max: most faces in view in one frame.
        faces_mean: mean faces in view per frame.
        people_max: most people (faces or bodies) in view in one frame.
        people_mean: mean people in view per frame.
        unique_visitors: estimated distinct people seen.
        dwell: dwell-time histogram, bin label -> count of ended visits.
        heatmap: row-major coarse grid of face-position counts.
    """

    camera_id: str
    start: datetime
    seconds: int
    frames: int
    faces_max: int
    faces_mean: float
    people_max: int
    people_mean: float
    unique_visitors: int
    dwell: Mapping[str, int]
    heatmap: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class OccupancyAlertRow:
    """A camera's people in view reached ``threshold`` at ``at`` (``people`` of them)."""

    camera_id: str
    at: datetime
    people: int
    threshold: int


class CameraReader(Protocol):
    """Reads of cameras, sightings, history requests and crowd buckets."""

    def get_camera(self, camera_id: str) -> CameraRow | None: ...

    def camera_by_name(self, name: str) -> CameraRow | None: ...

    def list_cameras(self) -> list[CameraRow]:
        """Every camera, by name."""
        ...

    def get_sighting(self, sighting_id: str) -> SightingRow | None: ...

    def sightings_of(
        self, subject_id: str, since: datetime, until: datetime | None = None
    ) -> list[SightingRow]:
        """The subject's sightings last seen at or after ``since`` (and first seen at or
        before ``until``, when given), oldest first."""
        ...

    def sightings_at(
        self, camera_id: str, watchlist_id: str, start: datetime, end: datetime
    ) -> list[SightingRow]:
        """Sightings at a camera against a watchlist overlapping ``[start, end]``, oldest first."""
        ...

    def sightings_page(
        self, subject_id: str, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[SightingRow]:
        """A page of the subject's sightings by ``(last_seen, sighting_id)``, at most ``limit``.

        ``after``: the ``(last_seen, sighting_id)`` of the page before's last
        row (None: from the first). Keyed on the subject's index, so each page
        costs its own rows, however many the subject has; read it from one
        snapshot (a visit still going on moves its ``last_seen``).
        """
        ...

    def count_sightings(self) -> int: ...

    def get_history_request(self, request_id: str) -> HistoryRequestRow | None: ...

    def history_requests_of(self, subject_id: str) -> list[HistoryRequestRow]:
        """The location-history requests about the subject, oldest first."""
        ...

    def crowd_buckets(self, camera_id: str, start: datetime, end: datetime) -> list[CrowdBucketRow]:
        """The camera's buckets starting in ``[start, end)``, oldest first."""
        ...

    def occupancy_alerts(
        self, since: datetime, limit: int, camera_id: str | None = None
    ) -> list[OccupancyAlertRow]:
        """Occupancy alerts after ``since`` (of one camera, when given), newest first."""
        ...


class CameraWriter(Protocol):
    """Writes of cameras, sightings, history requests and crowd buckets."""

    def insert_camera(self, row: CameraRow) -> None:
        """Add a camera.

        Raises:
            ConflictError: the id or name is taken.
            ValueError: the row carries a plaintext ``legacy_source``.
        """
        ...

    def set_camera_source(self, camera_id: str, sealed_source: bytes | None) -> bool:
        """Replace a camera's sealed source and clear any plaintext one; False if it is gone."""
        ...

    def set_camera_place(self, camera_id: str, location: str) -> bool:
        """Replace a camera's location (the service's sealed place) and clear its coordinates.

        False if the camera is gone.
        """
        ...

    def delete_camera(self, camera_id: str) -> bool:
        """Delete a camera with its sightings, buckets and per-camera meta entries (its file's
        progress, a raised retention, its state); False if it did not exist."""
        ...

    def insert_sighting(self, row: SightingRow) -> None:
        """Add a sighting.

        Raises:
            NotFoundError: the subject or camera does not exist.
        """
        ...

    def update_sighting(
        self,
        sighting_id: str,
        *,
        last_seen: datetime,
        best_similarity: float,
        expires_at: datetime,
        thumbnail: bytes | None = None,
    ) -> bool:
        """Extend a sighting and its expiry (and replace its thumbnail); False if gone."""
        ...

    def delete_sightings_expired(self, now: datetime) -> int:
        """Delete sightings whose expiry is at or before ``now``; returns how many."""
        ...

    def delete_sightings_seen_before(
        self, camera_id: str, watchlist_id: str, cutoff: datetime
    ) -> int:
        """Delete the camera's sightings against the watchlist last seen at or before
        ``cutoff``, whatever their expiry; returns how many."""
        ...

    def insert_history_request(self, row: HistoryRequestRow) -> None:
        """Add a pending history request."""
        ...

    def approve_history_request(self, request_id: str, approver: str, when: datetime) -> bool:
        """Mark a pending request approved; False if it is missing or already approved."""
        ...

    def delete_history_requests_before(self, cutoff: datetime) -> int:
        """Delete requests made before ``cutoff`` (with their notes); returns how many."""
        ...

    def put_crowd_bucket(self, row: CrowdBucketRow) -> None:
        """Insert or replace the bucket of ``(camera_id, start)``."""
        ...

    def insert_occupancy_alert(self, row: OccupancyAlertRow) -> None:
        """Add an occupancy alert (one of the camera's at the same instant is replaced)."""
        ...

    def delete_crowd_buckets_before(self, cutoff: datetime) -> int:
        """Delete the buckets starting, and occupancy alerts raised, before ``cutoff``; returns
        how many."""
        ...
