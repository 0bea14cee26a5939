"""The queries of cameras, sightings, history requests and crowd buckets, written once.

Private to the stores: parts of :class:`~facewarden.store._read.Reads` and
:class:`~facewarden.store._write.Writes`. The contract is :mod:`facewarden.store.cameras`.
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
        return self._count("SELECT COUNT(*) AS n FROM sightings")

    def get_history_request(self, request_id: str) -> HistoryRequestRow | None:
        row = self._one("SELECT * FROM history_requests WHERE request_id = ?", (request_id,))
        return None if row is None else self._load(HistoryRequestRow, row)

    def crowd_buckets(self, camera_id: str, start: datetime, end: datetime) -> list[CrowdBucketRow]:
        rows = self._rows(
            "SELECT * FROM crowd_buckets WHERE camera_id = ? AND start >= ? AND start < ? "
            "ORDER BY start",
            (camera_id, self._dialect.time_in(start), self._dialect.time_in(end)),
        )
        return [self._bucket(r) for r in rows]

    def _camera(self, row: Row) -> CameraRow:
        return self._load(CameraRow, row, watchlists=tuple(json.loads(row["watchlists"])))

    def _sighting(self, row: Row) -> SightingRow:
        return self._load(SightingRow, row)

    def _bucket(self, row: Row) -> CrowdBucketRow:
        heatmap = tuple(tuple(int(v) for v in r) for r in json.loads(row["heatmap"]))
        return self._load(CrowdBucketRow, row, dwell=json.loads(row["dwell"]), heatmap=heatmap)


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
        watchlists = json.dumps(list(row.watchlists))
        self._insert(
            "insert camera",
            "cameras",
            self._fields(row, skip=["legacy_source"], watchlists=watchlists),
        )

    def set_camera_source(self, camera_id: str, sealed_source: bytes | None) -> bool:
        return self._changed(
            "set camera source",
            "UPDATE cameras SET sealed_source = ?, legacy_source = NULL WHERE camera_id = ?",
            (sealed_source, camera_id),
        )

    def delete_camera(self, camera_id: str) -> bool:
        return self._changed(
            "delete camera", "DELETE FROM cameras WHERE camera_id = ?", (camera_id,)
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

    def insert_history_request(self, row: HistoryRequestRow) -> None:
        self._insert("insert history request", "history_requests", self._fields(row))

    def approve_history_request(self, request_id: str, approver: str, when: datetime) -> bool:
        return self._changed(
            "approve history request",
            "UPDATE history_requests SET approved_by = ?, approved_at = ? "
            "WHERE request_id = ? AND approved_by IS NULL",
            (approver, self._dialect.time_in(when), request_id),
        )

    def put_crowd_bucket(self, row: CrowdBucketRow) -> None:
        dwell = json.dumps(dict(row.dwell), sort_keys=True)
        heatmap = json.dumps([list(r) for r in row.heatmap])
        self._insert(
            "put crowd bucket",
            "crowd_buckets",
            self._fields(row, dwell=dwell, heatmap=heatmap),
            upsert=["camera_id", "start"],
        )
