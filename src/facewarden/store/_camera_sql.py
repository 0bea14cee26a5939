"""The queries of cameras, sightings, history requests and crowd buckets, written once.

Private to the stores: :class:`CameraReads` is mixed into each store and its
transactions, :class:`CameraWrites` into the transactions; the store's
dialect (:mod:`facewarden.store._dialect`) says how they are spoken. The
contract is :mod:`facewarden.store.cameras`.
"""

from __future__ import annotations

import json
from datetime import datetime

from facewarden.errors import ConflictError, NotFoundError
from facewarden.store._dialect import Queries, Row
from facewarden.store.cameras import CameraRow, CrowdBucketRow, HistoryRequestRow, SightingRow

__all__ = ["CameraReads", "CameraWrites"]


class CameraReads(Queries):
    """The reads (see :class:`facewarden.store.cameras.CameraReader`)."""

    def get_camera(self, camera_id: str) -> CameraRow | None:
        row = self._one("SELECT * FROM cameras WHERE camera_id = ?", (camera_id,))
        return None if row is None else self._camera(row)

    def camera_by_name(self, name: str) -> CameraRow | None:
        row = self._one("SELECT * FROM cameras WHERE name = ?", (name,))
        return None if row is None else self._camera(row)

    def list_cameras(self) -> list[CameraRow]:
        return [self._camera(r) for r in self._rows("SELECT * FROM cameras ORDER BY name")]

    def get_sighting(self, sighting_id: str) -> SightingRow | None:
        row = self._one("SELECT * FROM sightings WHERE sighting_id = ?", (sighting_id,))
        return None if row is None else self._sighting(row)

    def sightings_of(self, subject_id: str, since: datetime) -> list[SightingRow]:
        rows = self._rows(
            "SELECT * FROM sightings WHERE subject_id = ? AND last_seen >= ? "
            "ORDER BY first_seen, sighting_id",
            (subject_id, self._dialect.time_in(since)),
        )
        return [self._sighting(r) for r in rows]

    def sightings_at(
        self, camera_id: str, watchlist_id: str, start: datetime, end: datetime
    ) -> list[SightingRow]:
        time_in = self._dialect.time_in
        rows = self._rows(
            "SELECT * FROM sightings WHERE camera_id = ? AND watchlist_id = ? "
            "AND last_seen >= ? AND first_seen <= ? ORDER BY first_seen, sighting_id",
            (camera_id, watchlist_id, time_in(start), time_in(end)),
        )
        return [self._sighting(r) for r in rows]

    def count_sightings(self) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM sightings")
        return 0 if row is None else int(row["n"])

    def get_history_request(self, request_id: str) -> HistoryRequestRow | None:
        row = self._one("SELECT * FROM history_requests WHERE request_id = ?", (request_id,))
        if row is None:
            return None
        return HistoryRequestRow(
            row["request_id"],
            row["subject_id"],
            int(row["hours"]),
            row["case_reference"],
            row["requested_by"],
            self._dialect.time_out(row["created_at"]),
            row["approved_by"],
            self._dialect.maybe_time_out(row["approved_at"]),
        )

    def crowd_buckets(self, camera_id: str, start: datetime, end: datetime) -> list[CrowdBucketRow]:
        rows = self._rows(
            "SELECT * FROM crowd_buckets WHERE camera_id = ? AND start >= ? AND start < ? "
            "ORDER BY start",
            (camera_id, self._dialect.time_in(start), self._dialect.time_in(end)),
        )
        return [self._bucket(r) for r in rows]

    def _camera(self, row: Row) -> CameraRow:
        return CameraRow(
            row["camera_id"],
            row["name"],
            row["location"],
            row["latitude"],
            row["longitude"],
            tuple(json.loads(row["watchlists"])),
            bool(row["sensitive"]),
            row["retention_hours"],
            None if row["sealed_source"] is None else bytes(row["sealed_source"]),
            bool(row["keep_thumbnails"]),
            self._dialect.time_out(row["created_at"]),
            row["legacy_source"],
        )

    def _sighting(self, row: Row) -> SightingRow:
        time_out = self._dialect.time_out
        return SightingRow(
            row["sighting_id"],
            row["subject_id"],
            row["camera_id"],
            row["watchlist_id"],
            time_out(row["first_seen"]),
            time_out(row["last_seen"]),
            float(row["best_similarity"]),
            time_out(row["expires_at"]),
            row["thumbnail"],
        )

    def _bucket(self, row: Row) -> CrowdBucketRow:
        return CrowdBucketRow(
            row["camera_id"],
            self._dialect.time_out(row["start"]),
            int(row["seconds"]),
            int(row["frames"]),
            int(row["faces_max"]),
            float(row["faces_mean"]),
            int(row["people_max"]),
            float(row["people_mean"]),
            int(row["unique_visitors"]),
            json.loads(row["dwell"]),
            tuple(tuple(int(v) for v in r) for r in json.loads(row["heatmap"])),
        )


class CameraWrites(Queries):
    """The writes (see :class:`facewarden.store.cameras.CameraWriter`)."""

    def insert_camera(self, row: CameraRow) -> None:
        taken = self._one(
            "SELECT 1 FROM cameras WHERE camera_id = ? OR name = ?", (row.camera_id, row.name)
        )
        if taken is not None:
            raise ConflictError(f"a camera called {row.name!r} (or with its id) exists")
        if row.legacy_source is not None:
            raise ValueError("a camera's source is stored sealed only (sealed_source)")
        self._exec(
            "insert camera",
            "INSERT INTO cameras (camera_id, name, location, latitude, longitude, watchlists, "
            "sensitive, retention_hours, sealed_source, keep_thumbnails, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.camera_id,
                row.name,
                row.location,
                row.latitude,
                row.longitude,
                json.dumps(list(row.watchlists)),
                row.sensitive,
                row.retention_hours,
                row.sealed_source,
                row.keep_thumbnails,
                self._dialect.time_in(row.created_at),
            ),
        )

    def set_camera_source(self, camera_id: str, sealed_source: bytes | None) -> bool:
        return (
            self._exec(
                "set camera source",
                "UPDATE cameras SET sealed_source = ?, legacy_source = NULL WHERE camera_id = ?",
                (sealed_source, camera_id),
            )
            > 0
        )

    def delete_camera(self, camera_id: str) -> bool:
        return (
            self._exec("delete camera", "DELETE FROM cameras WHERE camera_id = ?", (camera_id,)) > 0
        )

    def insert_sighting(self, row: SightingRow) -> None:
        for table, column, value in (
            ("subjects", "subject_id", row.subject_id),
            ("cameras", "camera_id", row.camera_id),
        ):
            found = self._one(
                f"SELECT 1 FROM {table} WHERE {column} = ?",  # noqa: S608 - fixed names
                (value,),
            )
            if found is None:
                raise NotFoundError(f"no {table[:-1]} {value}")
        time_in = self._dialect.time_in
        self._exec(
            "insert sighting",
            "INSERT INTO sightings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.sighting_id,
                row.subject_id,
                row.camera_id,
                row.watchlist_id,
                time_in(row.first_seen),
                time_in(row.last_seen),
                row.best_similarity,
                time_in(row.expires_at),
                row.thumbnail,
            ),
        )

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
        changed = self._exec(
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
        return changed > 0

    def delete_sightings_expired(self, now: datetime) -> int:
        return self._exec(
            "purge sightings",
            "DELETE FROM sightings WHERE expires_at <= ?",
            (self._dialect.time_in(now),),
        )

    def insert_history_request(self, row: HistoryRequestRow) -> None:
        self._exec(
            "insert history request",
            "INSERT INTO history_requests VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.request_id,
                row.subject_id,
                row.hours,
                row.case_reference,
                row.requested_by,
                self._dialect.time_in(row.created_at),
                row.approved_by,
                self._dialect.maybe_time_in(row.approved_at),
            ),
        )

    def approve_history_request(self, request_id: str, approver: str, when: datetime) -> bool:
        return (
            self._exec(
                "approve history request",
                "UPDATE history_requests SET approved_by = ?, approved_at = ? "
                "WHERE request_id = ? AND approved_by IS NULL",
                (approver, self._dialect.time_in(when), request_id),
            )
            > 0
        )

    def put_crowd_bucket(self, row: CrowdBucketRow) -> None:
        self._exec(
            "put crowd bucket",
            "INSERT INTO crowd_buckets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (camera_id, start) DO UPDATE SET "
            "seconds = excluded.seconds, frames = excluded.frames, "
            "faces_max = excluded.faces_max, faces_mean = excluded.faces_mean, "
            "people_max = excluded.people_max, people_mean = excluded.people_mean, "
            "unique_visitors = excluded.unique_visitors, dwell = excluded.dwell, "
            "heatmap = excluded.heatmap",
            (
                row.camera_id,
                self._dialect.time_in(row.start),
                row.seconds,
                row.frames,
                row.faces_max,
                row.faces_mean,
                row.people_max,
                row.people_mean,
                row.unique_visitors,
                json.dumps(dict(row.dwell), sort_keys=True),
                json.dumps([list(r) for r in row.heatmap]),
            ),
        )
