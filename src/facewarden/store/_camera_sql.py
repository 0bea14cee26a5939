"""The queries of cameras, sightings, history requests and crowd buckets, written once.

Private to the stores: parts of :class:`~facewarden.store._read.Reads` and
:class:`~facewarden.store._write.Writes`. The contract is :mod:`facewarden.store.cameras`.
"""

from __future__ import annotations

from datetime import datetime

from facewarden.errors import ConflictError, NotFoundError
from facewarden.store._queries import Queries
from facewarden.store.cameras import (
    CameraRow,
    CrowdBucketRow,
    HistoryRequestRow,
    OccupancyAlertRow,
    SightingRow,
)

__all__ = ["CameraReads", "CameraWrites"]

_CAMERA_META = ("camera_progress", "camera_retention_raised", "camera_state")


class CameraReads(Queries):
    """The reads (see :class:`facewarden.store.cameras.CameraReader`)."""

    def get_camera(self, camera_id: str) -> CameraRow | None:
        return self._get(CameraRow, "SELECT * FROM cameras WHERE camera_id = ?", (camera_id,))

    def camera_by_name(self, name: str) -> CameraRow | None:
        return self._get(CameraRow, "SELECT * FROM cameras WHERE name = ?", (name,))

    def list_cameras(self) -> list[CameraRow]:
        return self._all(CameraRow, "SELECT * FROM cameras ORDER BY name")

    def get_sighting(self, sighting_id: str) -> SightingRow | None:
        sql = "SELECT * FROM sightings WHERE sighting_id = ?"
        return self._get(SightingRow, sql, (sighting_id,))

    def sightings_of(
        self, subject_id: str, since: datetime, until: datetime | None = None
    ) -> list[SightingRow]:
        before = "" if until is None else "AND first_seen <= ? "
        bounds = (since,) if until is None else (since, until)
        return self._all(
            SightingRow,
            f"SELECT * FROM sightings WHERE subject_id = ? AND last_seen >= ? {before}"  # noqa: S608
            "ORDER BY first_seen, sighting_id",
            (subject_id, *map(self._dialect.time_in, bounds)),
        )

    def sightings_at(
        self, camera_id: str, watchlist_id: str, start: datetime, end: datetime
    ) -> list[SightingRow]:
        return self._all(
            SightingRow,
            "SELECT * FROM sightings WHERE camera_id = ? AND watchlist_id = ? "
            "AND last_seen >= ? AND first_seen <= ? ORDER BY first_seen, sighting_id",
            (camera_id, watchlist_id, self._dialect.time_in(start), self._dialect.time_in(end)),
        )

    def sightings_page(
        self, subject_id: str, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[SightingRow]:
        where, params = "", []
        if after is not None:
            # The range on last_seen is what the index (subject_id, last_seen) seeks to.
            last_seen = self._dialect.time_in(after[0])
            where = "AND last_seen >= ? AND (last_seen > ? OR sighting_id > ?) "
            params = [last_seen, last_seen, after[1]]
        return self._all(
            SightingRow,
            f"SELECT * FROM sightings WHERE subject_id = ? {where}"  # noqa: S608 - fixed clauses
            "ORDER BY last_seen, sighting_id LIMIT ?",
            (subject_id, *params, limit),
        )

    def count_sightings(self) -> int:
        return self._count("SELECT COUNT(*) AS n FROM sightings")

    def get_history_request(self, request_id: str) -> HistoryRequestRow | None:
        sql = "SELECT * FROM history_requests WHERE request_id = ?"
        return self._get(HistoryRequestRow, sql, (request_id,))

    def history_requests_of(self, subject_id: str) -> list[HistoryRequestRow]:
        return self._all(
            HistoryRequestRow,
            "SELECT * FROM history_requests WHERE subject_id = ? ORDER BY created_at, request_id",
            (subject_id,),
        )

    def crowd_buckets(self, camera_id: str, start: datetime, end: datetime) -> list[CrowdBucketRow]:
        return self._all(
            CrowdBucketRow,
            "SELECT * FROM crowd_buckets WHERE camera_id = ? AND start >= ? AND start < ? "
            "ORDER BY start",
            (camera_id, self._dialect.time_in(start), self._dialect.time_in(end)),
        )

    def occupancy_alerts(
        self, since: datetime, limit: int, camera_id: str | None = None
    ) -> list[OccupancyAlertRow]:
        one = "" if camera_id is None else "AND camera_id = ? "
        return self._all(
            OccupancyAlertRow,
            f"SELECT * FROM occupancy_alerts WHERE at > ? {one}"  # noqa: S608 - a fixed clause
            "ORDER BY at DESC, camera_id LIMIT ?",
            (self._dialect.time_in(since), *([] if camera_id is None else [camera_id]), limit),
        )


class CameraWrites(Queries):
    """The writes (see :class:`facewarden.store.cameras.CameraWriter`)."""

    def insert_camera(self, row: CameraRow) -> None:
        sql = "SELECT 1 FROM cameras WHERE camera_id = ? OR name = ?"
        if self._exists(sql, (row.camera_id, row.name)):
            raise ConflictError(f"a camera called {row.name!r} (or with its id) exists")
        if row.legacy_source is not None:
            raise ValueError("a camera's source is stored sealed only (sealed_source)")
        self._insert("insert camera", "cameras", self._fields(row, skip=["legacy_source"]))

    def set_camera_source(self, camera_id: str, sealed_source: bytes | None) -> bool:
        return self._changed(
            "set camera source",
            "UPDATE cameras SET sealed_source = ?, legacy_source = NULL WHERE camera_id = ?",
            (sealed_source, camera_id),
        )

    def set_camera_place(self, camera_id: str, location: str) -> bool:
        return self._changed(
            "set camera place",
            "UPDATE cameras SET location = ?, latitude = NULL, longitude = NULL "
            "WHERE camera_id = ?",
            (location, camera_id),
        )

    def delete_camera(self, camera_id: str) -> bool:
        # Its sightings and buckets go with it (ON DELETE CASCADE); so do its per-camera
        # entries in meta: a file's progress, an admin's raised retention, its state.
        self._exec(
            "delete camera settings",
            "DELETE FROM meta WHERE key IN (?, ?, ?)",
            tuple(f"{kind}:{camera_id}" for kind in _CAMERA_META),
        )
        return self._changed(
            "delete camera", "DELETE FROM cameras WHERE camera_id = ?", (camera_id,)
        )

    def insert_sighting(self, row: SightingRow) -> None:
        for table, column, value in (
            ("subjects", "subject_id", row.subject_id),
            ("cameras", "camera_id", row.camera_id),
        ):
            sql = f"SELECT 1 FROM {table} WHERE {column} = ?"  # noqa: S608 - fixed names
            if not self._exists(sql, (value,)):
                raise NotFoundError(f"no {table[:-1]} {value}")
        self._insert("insert sighting", "sightings", self._fields(row))

    def update_sighting(
        self,
        sighting_id: str,
        *,
        last_seen: datetime,
        best_similarity: float,
        expires_at: datetime,
        thumbnail: bytes | None = None,
    ) -> bool:
        # One statement; a thumbnail left out (None) keeps the stored one. The cast
        # tells PostgreSQL the type of a parameter that may be NULL.
        return self._changed(
            "update sighting",
            "UPDATE sightings SET last_seen = ?, best_similarity = ?, expires_at = ?, "  # noqa: S608
            f"thumbnail = COALESCE(CAST(? AS {self._dialect.blob}), thumbnail) "
            "WHERE sighting_id = ?",
            (
                self._dialect.time_in(last_seen),
                best_similarity,
                self._dialect.time_in(expires_at),
                thumbnail,
                sighting_id,
            ),
        )

    def delete_sightings_expired(self, now: datetime) -> int:
        return self._exec(
            "purge sightings",
            "DELETE FROM sightings WHERE expires_at <= ?",
            (self._dialect.time_in(now),),
        )

    def delete_sightings_seen_before(
        self, camera_id: str, watchlist_id: str, cutoff: datetime
    ) -> int:
        return self._exec(
            "purge sightings",
            "DELETE FROM sightings WHERE camera_id = ? AND watchlist_id = ? AND last_seen <= ?",
            (camera_id, watchlist_id, self._dialect.time_in(cutoff)),
        )

    def insert_history_request(self, row: HistoryRequestRow) -> None:
        self._insert("insert history request", "history_requests", self._fields(row))

    def approve_history_request(self, request_id: str, approver: str, when: datetime) -> bool:
        return self._changed(
            "approve history request",
            "UPDATE history_requests SET approved_by = ?, approved_at = ? "
            "WHERE request_id = ? AND approved_by IS NULL",
            (approver, self._dialect.time_in(when), request_id),
        )

    def delete_history_requests_before(self, cutoff: datetime) -> int:
        return self._exec(
            "purge history requests",
            "DELETE FROM history_requests WHERE created_at < ?",
            (self._dialect.time_in(cutoff),),
        )

    def put_crowd_bucket(self, row: CrowdBucketRow) -> None:
        bucket = self._fields(row)
        self._insert("put crowd bucket", "crowd_buckets", bucket, upsert=["camera_id", "start"])

    def insert_occupancy_alert(self, row: OccupancyAlertRow) -> None:
        alert = self._fields(row)
        self._insert("add occupancy alert", "occupancy_alerts", alert, upsert=["camera_id", "at"])

    def delete_crowd_buckets_before(self, cutoff: datetime) -> int:
        before = (self._dialect.time_in(cutoff),)
        alerts = self._exec(
            "purge occupancy alerts", "DELETE FROM occupancy_alerts WHERE at < ?", before
        )
        return alerts + self._exec(
            "purge crowd buckets",
            # Per camera, so each is a range of the primary key (camera_id, start),
            # not a scan of every bucket ever kept (every bucket has its camera).
            "DELETE FROM crowd_buckets WHERE camera_id IN (SELECT camera_id FROM cameras) "
            "AND start < ?",
            before,
        )
