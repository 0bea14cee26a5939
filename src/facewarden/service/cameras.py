"""Cameras: registered with a location, the watchlists they check and a sensitive flag.

A *sensitive* camera (place of worship, clinic, shelter) never identifies
anyone: its frames feed anonymous crowd counts only (SECURITY.md promise
13). A camera may shorten or lengthen sighting retention for itself; a
camera's source (a file path or stream URL) is what ``facewarden watch``
reads. Every change is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from facewarden.errors import NotFoundError
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.records import invalid_input, new_id
from facewarden.service.watchlists import resolve_watchlist
from facewarden.store.base import CameraRow, Reader

__all__ = ["Camera", "Cameras", "resolve_camera"]

_MAX_NAME = 64
_MAX_LOCATION = 128
_MAX_SOURCE = 2000


@dataclass(frozen=True)
class Camera:
    """A registered camera (see :class:`~facewarden.store.cameras.CameraRow`)."""

    camera_id: str
    name: str
    location: str
    latitude: float | None
    longitude: float | None
    watchlists: tuple[str, ...]
    sensitive: bool
    retention_hours: int | None
    source: str | None
    keep_thumbnails: bool

    @classmethod
    def from_row(cls, row: CameraRow) -> Camera:
        """The view of a stored row."""
        return cls(
            row.camera_id,
            row.name,
            row.location,
            row.latitude,
            row.longitude,
            row.watchlists,
            row.sensitive,
            row.retention_hours,
            row.source,
            row.keep_thumbnails,
        )

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "camera_id": self.camera_id,
            "name": self.name,
            "location": self.location,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "watchlists": list(self.watchlists),
            "sensitive": self.sensitive,
            "retention_hours": self.retention_hours,
            "source": self.source,
            "keep_thumbnails": self.keep_thumbnails,
        }


def resolve_camera(reader: Reader, ref: str) -> CameraRow:
    """The camera with id or name ``ref``.

    Raises:
        NotFoundError: none.
    """
    row = reader.get_camera(ref) if ref.startswith("cam_") else reader.camera_by_name(ref)
    if row is None:
        raise NotFoundError(f"no camera {ref!r}; list them with `facewarden cameras list`")
    return row


def _text(label: str, value: str, limit: int, *, required: bool = True) -> str:
    value = value.strip()
    if (required and not value) or len(value) > limit or not value.isprintable():
        raise invalid_input(f"camera {label} must be 1 to {limit} printable characters")
    return value


class Cameras:
    """Register, list and remove cameras."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit

    def add(
        self,
        name: str,
        *,
        location: str,
        watchlists: Sequence[str] = (),
        sensitive: bool = False,
        latitude: float | None = None,
        longitude: float | None = None,
        retention_hours: int | None = None,
        source: str | None = None,
        keep_thumbnails: bool = False,
    ) -> Camera:
        """Register a camera.

        Args:
            name: unique, up to 64 characters, not starting with ``cam_``.
            location: a location label (required).
            watchlists: names or ids of the watchlists checked there (none on a
                sensitive camera).
            sensitive: count only, never identify.
            latitude: GPS latitude (-90 to 90), with ``longitude``.
            longitude: GPS longitude (-180 to 180), with ``latitude``.
            retention_hours: sighting retention here (default: the deployment's).
            source: a video file path or an ``rtsp://``/``http(s)://`` URL.
            keep_thumbnails: keep an encrypted face crop with each sighting.

        Raises:
            InvalidInputError: a malformed value, or watchlists on a sensitive camera.
            NotFoundError: an unknown watchlist.
            ConflictError: the name is taken.
        """
        name = _text("name", name, _MAX_NAME)
        if name.startswith("cam_"):
            raise invalid_input("a camera name may not start with 'cam_'")
        location = _text("location", location, _MAX_LOCATION)
        if source is not None:
            source = _text("source", source, _MAX_SOURCE)
        if (latitude is None) != (longitude is None):
            raise invalid_input("give both latitude and longitude, or neither")
        if (
            latitude is not None
            and longitude is not None
            and not (-90 <= latitude <= 90 and -180 <= longitude <= 180)
        ):
            raise invalid_input("latitude must be -90..90 and longitude -180..180")
        if retention_hours is not None and not 1 <= retention_hours <= 24 * 365:
            raise invalid_input("retention_hours must be 1 to 8760")
        if sensitive and (watchlists or keep_thumbnails):
            raise invalid_input(
                "a sensitive camera identifies nobody: it checks no watchlists, keeps no thumbnails"
            )
        with self._ctx.writing() as tx:
            ids = tuple(dict.fromkeys(resolve_watchlist(tx, w).watchlist_id for w in watchlists))
            row = CameraRow(
                new_id("cam"),
                name,
                location,
                latitude,
                longitude,
                ids,
                sensitive,
                retention_hours,
                source,
                keep_thumbnails,
                self._ctx.clock(),
            )
            tx.insert_camera(row)
            self._audit.append(
                tx,
                "camera.add",
                object_type="camera",
                object_id=row.camera_id,
                details={"watchlists": list(ids), "sensitive": sensitive},
            )
        return Camera.from_row(row)

    def all(self) -> list[Camera]:
        """Every camera, by name."""
        self._ctx.ensure_open()
        return [Camera.from_row(r) for r in self._ctx.store.list_cameras()]

    def get(self, ref: str) -> Camera:
        """The camera with id or name ``ref``.

        Raises:
            NotFoundError: none.
        """
        self._ctx.ensure_open()
        return Camera.from_row(resolve_camera(self._ctx.store, ref))

    def remove(self, ref: str) -> None:
        """Remove a camera, its sightings and crowd buckets (audited).

        Raises:
            NotFoundError: no such camera.
        """
        with self._ctx.writing() as tx:
            row = resolve_camera(tx, ref)
            tx.delete_camera(row.camera_id)
            self._audit.append(tx, "camera.remove", object_type="camera", object_id=row.camera_id)
