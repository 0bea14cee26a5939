"""Cameras: registered with a location, the watchlists they check and a sensitive flag.

A *sensitive* camera (place of worship, clinic, shelter) never identifies
anyone: its frames feed anonymous crowd counts only (SECURITY.md promise
13). Its place stays sensitive after the camera is removed
(:mod:`facewarden.service.sensitive_places`): a camera added there again is
sensitive unless an admin explicitly lifts it. A camera may shorten sighting
retention for itself; only an admin may raise it beyond the deployment's
``sighting_retention_hours``. A camera's source (a file path or stream URL)
is what ``facewarden watch`` reads. Every change is audited.

A source is a secret, stored only sealed
(:mod:`facewarden.service.camera_sources`); so is a camera's place, its
location label and coordinates (:mod:`facewarden.service.camera_places`).

:attr:`Camera.source` is the plaintext, for the code that opens the source;
:meth:`Camera.to_dict` (JSON, the CLI listing) shows only its kind and
:attr:`Camera.redacted_source` (``rtsp://host:554/...``, ``.../clip.mp4``).
:meth:`Cameras.seal_legacy_sources` seals the sources of databases from
before schema version 4, which hold them in the clear (``legacy_source``),
and the places stored in the clear before places were sealed, and runs by
itself the first time cameras are read with such a row present.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from facewarden.config import Settings
from facewarden.errors import FacewardenError, NotFoundError, PermissionDeniedError
from facewarden.service.audit import AuditLog
from facewarden.service.camera_places import Place, is_place_sealed, open_place, seal_place
from facewarden.service.camera_sources import open_camera_source, seal_camera_source
from facewarden.service.compaction import note_compaction_due
from facewarden.service.context import Context
from facewarden.service.file_progress import CameraProgress
from facewarden.service.names import canonical_name, is_typed_text
from facewarden.service.records import invalid_input, new_id
from facewarden.service.sensitive_places import (
    is_sensitive_place,
    mark_sensitive_place,
    place_tokens,
    unmark_sensitive_place,
)
from facewarden.service.stream_hosts import check_stream_host
from facewarden.service.watchlists import resolve_watchlist
from facewarden.store.base import CameraRow, Reader, Transaction
from facewarden.vision.sources import redact_url, source_kind

__all__ = [
    "Camera",
    "Cameras",
    "camera_retention_hours",
    "resolve_camera",
]

logger = logging.getLogger(__name__)

_MAX_NAME = 64
_MAX_LOCATION = 128
_MAX_SOURCE = 2000
_RAISED_RETENTION = "camera_retention_raised:"


def camera_retention_hours(settings: Settings, reader: Reader, camera: CameraRow) -> int:
    """How long sightings at ``camera`` are kept, in hours, before any watchlist's limit.

    The camera's own retention when it is shorter than the deployment's; a
    longer one only when an admin raised it (recorded when the camera was
    added), so one set by anyone else, or by an older version, does not count.
    """
    limit = settings.sighting_retention_hours
    hours = camera.retention_hours
    if hours is None:
        return limit
    if hours <= limit or reader.get_meta(_RAISED_RETENTION + camera.camera_id) == str(hours):
        return hours
    return limit


@dataclass(frozen=True)
class Camera:
    """A registered camera (see :class:`~facewarden.store.cameras.CameraRow`).

    ``source`` is the plaintext (a file path or stream URL, possibly with a
    password): never in ``repr``, nor in :meth:`to_dict`.
    """

    camera_id: str
    name: str
    location: str
    latitude: float | None
    longitude: float | None
    watchlists: tuple[str, ...]
    sensitive: bool
    retention_hours: int | None
    source: str | None = field(repr=False)
    keep_thumbnails: bool

    @classmethod
    def from_row(cls, row: CameraRow, source: str | None, place: Place) -> Camera:
        """The view of a stored row whose source and place were opened."""
        return cls(
            row.camera_id,
            row.name,
            place.label,
            place.latitude,
            place.longitude,
            row.watchlists,
            row.sensitive,
            row.retention_hours,
            source,
            row.keep_thumbnails,
        )

    @property
    def source_kind(self) -> str | None:
        """``file`` or ``stream``; None without a source."""
        return None if self.source is None else source_kind(self.source)

    @property
    def redacted_source(self) -> str | None:
        """The source safe to show: no credentials, path or query (see :func:`redact_url`)."""
        return None if self.source is None else redact_url(self.source)

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
            "source_kind": self.source_kind,
            "source": self.redacted_source,
            "keep_thumbnails": self.keep_thumbnails,
        }


def resolve_camera(reader: Reader, ref: str) -> CameraRow:
    """The camera with id or name ``ref``.

    Raises:
        NotFoundError: none.
    """
    if ref.strip().startswith("cam_"):
        row = reader.get_camera(ref.strip())
    else:  # as typed first: a name stored before names were normalised is still found
        row = reader.camera_by_name(ref) or reader.camera_by_name(canonical_name(ref))
    if row is None:
        raise NotFoundError(f"no camera {ref!r}; list them with `facewarden cameras list`")
    return row


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+://")
"""A source that starts like a URL (a Windows drive letter, ``C:/``, does not)."""


def _text(label: str, value: str, limit: int, *, required: bool = True) -> str:
    value = value.strip()
    if (required and not value) or len(value) > limit or not is_typed_text(value):
        raise invalid_input(f"camera {label} must be 1 to {limit} printable characters")
    return value


class Cameras:
    """Register, list and remove cameras."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit
        # (camera id, sealed source) -> plaintext: what sources() already opened.
        self._opened: dict[tuple[str, bytes], str] = {}

    def add(
        self,
        name: str,
        *,
        location: str,
        watchlists: Sequence[str] = (),
        sensitive: bool | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        retention_hours: int | None = None,
        source: str | None = None,
        keep_thumbnails: bool = False,
        role: str = "operator",
        remote: bool = False,
    ) -> Camera:
        """Register a camera.

        Args:
            name: unique, up to 64 characters, not starting with ``cam_``.
            location: a location label (required).
            watchlists: names or ids of the watchlists checked there (none on a
                sensitive camera).
            sensitive: count only, never identify; None: as the place was (a
                place where a sensitive camera was stays sensitive), else not.
            latitude: GPS latitude (-90 to 90), with ``longitude``.
            longitude: GPS longitude (-180 to 180), with ``latitude``.
            retention_hours: sighting retention here (default: the deployment's).
            source: a video file path or an ``rtsp://``/``http(s)://`` URL.
            keep_thumbnails: keep an encrypted face crop with each sighting.
            role: the caller's role: only ``admin`` may lift a sensitive place
                (``sensitive=False`` there) or raise the retention beyond the
                deployment's.
            remote: the caller is not on this machine (an API client): a file
                source must then lie in the ``camera_video_dir`` setting's folder
                (a relative one is taken from there), and is stored resolved.

        Raises:
            InvalidInputError: a malformed value, watchlists on a sensitive camera, or
                a stream at a refused host (loopback, link-local, cloud metadata:
                :mod:`facewarden.service.stream_hosts`).
            PermissionDeniedError: not an admin, and lifting a sensitive place or
                raising the retention.
            NotFoundError: an unknown watchlist.
            ConflictError: the name is taken.
        """
        name = _text("name", canonical_name(name), _MAX_NAME)
        if name.startswith("cam_"):
            raise invalid_input("a camera name may not start with 'cam_'")
        location = _text("location", location, _MAX_LOCATION)
        if source is not None:
            source = self._checked_source(source, remote=remote)
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
        limit = self._ctx.settings.sighting_retention_hours
        raised = retention_hours is not None and retention_hours > limit
        if raised and role != "admin":
            raise PermissionDeniedError(
                f"only an admin may keep sightings longer than the deployment's {limit} hours"
            )
        places = place_tokens(self._ctx.envelope, location, latitude, longitude)
        with self._ctx.writing() as tx:
            marked = is_sensitive_place(tx, places)
            lifted = marked and sensitive is False
            if lifted and role != "admin":
                raise PermissionDeniedError(
                    "a sensitive camera was at this place: only an admin may add an "
                    "identifying camera here"
                )
            sensitive = marked if sensitive is None else sensitive
            if sensitive and (watchlists or keep_thumbnails):
                raise invalid_input(
                    "a sensitive camera identifies nobody: it checks no watchlists, keeps no "
                    "thumbnails"
                    + ("; this place stays sensitive unless an admin lifts it" if marked else "")
                )
            ids = tuple(dict.fromkeys(resolve_watchlist(tx, w).watchlist_id for w in watchlists))
            camera_id = new_id("cam")
            place = Place(location, latitude, longitude)
            row = CameraRow(
                camera_id,
                name,
                seal_place(self._ctx.freetext, camera_id, place),
                None,
                None,
                ids,
                sensitive,
                retention_hours,
                seal_camera_source(self._ctx.envelope, tx, camera_id, source),
                keep_thumbnails,
                self._ctx.clock(),
            )
            tx.insert_camera(row)
            self._audit.append(
                tx,
                "camera.add",
                object_type="camera",
                object_id=row.camera_id,
                details={
                    "watchlists": list(ids),
                    "sensitive": sensitive,
                    "source_kind": None if source is None else source_kind(source),
                    "retention_hours": retention_hours,
                },
            )
            if sensitive:
                mark_sensitive_place(tx, places)
            if lifted:
                unmark_sensitive_place(tx, places)
                self._audit.append(
                    tx, "camera.sensitivity_lift", object_type="camera", object_id=camera_id
                )
            if raised:
                tx.set_meta(_RAISED_RETENTION + camera_id, str(retention_hours))
                self._audit.append(
                    tx,
                    "camera.retention_raise",
                    object_type="camera",
                    object_id=camera_id,
                    details={"retention_hours": retention_hours, "limit_hours": limit},
                )
        return Camera.from_row(row, source, place)

    def all(self) -> list[Camera]:
        """Every camera, by name."""
        self._ctx.ensure_open()
        rows = self._ctx.store.list_cameras()
        if any(_legacy(r) for r in rows):
            self.seal_legacy_sources()
        return [self._view(r) for r in rows]

    def get(self, ref: str) -> Camera:
        """The camera with id or name ``ref``.

        Raises:
            NotFoundError: none.
        """
        self._ctx.ensure_open()
        row = resolve_camera(self._ctx.store, ref)
        if _legacy(row):
            self.seal_legacy_sources()
        return self._view(row)

    def _checked_source(self, source: str, *, remote: bool) -> str:
        """``source`` as it is stored, or an InvalidInputError saying why it is refused."""
        source = _text("source", source, _MAX_SOURCE)
        if _URL.match(source) and source_kind(source) != "stream":
            # Else taken for a file literally called "ftp://...", failing only when run.
            raise invalid_input(
                "a camera source is a video file's path or an rtsp://, rtsps://, http:// "
                f"or https:// URL, not {redact_url(source)!r}"
            )
        # Before anything is stored: the server must not be made to fetch
        # from itself or the cloud's metadata service (stream_hosts).
        check_stream_host(source, self._ctx.settings.camera_allowed_networks)
        if remote and source_kind(source) == "file":
            return self._video_file(source)
        return source

    def _video_file(self, source: str) -> str:
        """``source`` resolved inside the video folder, for a caller elsewhere.

        Else a key holder would choose which of this machine's files the
        server reads, and learn from the camera's state which ones exist.
        """
        folder = self._ctx.settings.camera_video_dir
        if folder is None:
            raise invalid_input(
                "a camera registered over the API reads a stream URL (rtsp://, http(s)://), "
                "not a file on the server, unless FACEWARDEN_CAMERA_VIDEO_DIR names the folder "
                "of the video files it may read (or register it with the command line)"
            )
        root = folder.resolve()  # resolvable: checked with the settings
        try:
            # resolve() follows the links that exist, so a link out of the folder is out.
            path = (root / source).resolve()
        except (OSError, RuntimeError):  # a loop of links (RuntimeError before 3.13)
            raise invalid_input(
                f"the video file {redact_url(source)} cannot be resolved (a loop of links)"
            ) from None
        if not path.is_relative_to(root):
            raise invalid_input(
                f"a camera's video file must be in the folder FACEWARDEN_CAMERA_VIDEO_DIR "
                f"names; {redact_url(source)} is not"
            )
        return str(path)

    def seal_legacy_sources(self) -> int:
        """Seal every source stored in the clear before schema version 4, and clear it.

        Places stored in the clear (before places were sealed) are sealed too.
        One transaction (audited when it sealed anything); the store is then
        compacted, so the plaintext leaves the database file's free pages
        and its write-ahead log too. Idempotent, and safe with several
        processes: each row is re-read inside the transaction.

        Returns:
            How many sources were sealed.
        """
        sealed = 0
        with self._ctx.writing() as tx:
            for row in tx.list_cameras():
                if not is_place_sealed(row):
                    place = open_place(self._ctx.freetext, row)
                    tx.set_camera_place(
                        row.camera_id, seal_place(self._ctx.freetext, row.camera_id, place)
                    )
                    sealed += 1
                if row.legacy_source is None:
                    continue
                value = row.sealed_source or self._seal(tx, row.camera_id, row.legacy_source)
                tx.set_camera_source(row.camera_id, value)
                sealed += 1
            if sealed:
                self._audit.append(tx, "camera.seal_sources", details={"cameras": sealed})
        if sealed:
            logger.info("sealed %d camera source(s) and place(s) stored in the clear", sealed)
            self._ctx.store.compact(["cameras"])
        return sealed

    def _seal(self, tx: Transaction, camera_id: str, source: str) -> bytes:
        sealed = seal_camera_source(self._ctx.envelope, tx, camera_id, source)
        assert sealed is not None
        return sealed

    def sources(self) -> dict[str, str]:
        """Camera id -> source, of every camera that has one (what an ingest worker runs).

        Asked every few seconds by each worker: a source is decrypted once and
        remembered while its sealed bytes stay the same, and one that cannot be
        opened (altered, or its key gone) is logged and left out, so that it stops
        only its own camera.
        """
        self._ctx.ensure_open()
        rows = self._ctx.store.list_cameras()
        if any(_legacy(r) for r in rows):
            self.seal_legacy_sources()
            rows = self._ctx.store.list_cameras()
        found: dict[str, str] = {}
        opened: dict[tuple[str, bytes], str] = {}
        for row in rows:
            if row.sealed_source is None:
                continue
            key = (row.camera_id, row.sealed_source)
            source = self._opened.get(key)
            if source is None:
                try:
                    source = open_camera_source(self._ctx.envelope, self._ctx.store, row)
                except FacewardenError as exc:
                    logger.error("camera %s: its source cannot be opened: %s", row.name, exc)
                    continue
            if source is not None:
                opened[key] = found[row.camera_id] = source
        self._opened = opened  # only current cameras and sources are remembered
        return found

    def _view(self, row: CameraRow) -> Camera:
        source = open_camera_source(self._ctx.envelope, self._ctx.store, row)
        return Camera.from_row(row, source, open_place(self._ctx.freetext, row))

    def source_digest(self, source: str) -> str:
        """A keyed digest of a camera's source: what its file's progress keeps of it
        (:meth:`facewarden.service.file_progress.CameraProgress.digest`)."""
        return CameraProgress.digest(self._ctx.envelope, source)

    def remove(self, ref: str) -> None:
        """Remove a camera, its sightings and crowd buckets (audited); the next purge
        compacts them away.

        Raises:
            NotFoundError: no such camera.
        """
        with self._ctx.writing() as tx:
            row = resolve_camera(tx, ref)
            if row.sensitive:  # the place stays sensitive (cameras older than the marks too)
                place = open_place(self._ctx.freetext, row)
                tokens = place_tokens(
                    self._ctx.envelope, place.label, place.latitude, place.longitude
                )
                mark_sensitive_place(tx, tokens)
            tx.delete_camera(row.camera_id)
            # Its sightings (who was where) and sealed place went with it: the next
            # purge takes their old row versions from the files, as it does an
            # expired sighting's (the tables a camera's deletion cascades into too).
            note_compaction_due(tx, ["cameras"])
            self._audit.append(tx, "camera.remove", object_type="camera", object_id=row.camera_id)


def _legacy(row: CameraRow) -> bool:
    """Whether the row holds a source or a place in the clear (stored before sealing)."""
    return row.legacy_source is not None or not is_place_sealed(row)
