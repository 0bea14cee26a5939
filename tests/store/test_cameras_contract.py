"""The camera part of the Store contract: round trips, cascades, expiry, buckets.

Every backend (``store`` is parametrized in conftest.py) passes it unchanged;
the protocols are in :mod:`facewarden.store.cameras`. The last test builds
a schema-3 database by hand on each backend and checks what migration 4
makes of a plaintext camera source.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from facewarden.errors import ConflictError, NotFoundError
from facewarden.store import Store, SubjectRow
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.store._pg_schema import PG_MIGRATIONS
from facewarden.store._sqlite_read import ts_text
from facewarden.store.cameras import (
    CameraRow,
    CrowdBucketRow,
    HistoryRequestRow,
    OccupancyAlertRow,
    SightingRow,
)
from facewarden.store.migrations import MIGRATIONS, latest_version
from facewarden.store.postgres import PostgresStore, open_postgres
from facewarden.store.sqlite import SqliteStore, open_sqlite

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _camera(name: str = "door", **kwargs: object) -> CameraRow:
    values: dict[str, object] = {
        "camera_id": f"cam_{secrets.token_hex(8)}",
        "name": name,
        "location": "north entrance",
        "latitude": 48.1,
        "longitude": 11.5,
        "watchlists": ("wl_1", "wl_2"),
        "sensitive": False,
        "retention_hours": 6,
        "sealed_source": b"\x01sealed source",
        "keep_thumbnails": True,
        "created_at": T0,
    } | kwargs
    return CameraRow(**values)  # type: ignore[arg-type]


def _subject(store: Store) -> str:
    sid = f"sub_{secrets.token_hex(8)}"
    with store.transaction() as tx:
        tx.insert_subject(SubjectRow(sid, b"k" * 62, None, {}, T0, T0))
    return sid


def _sighting(subject: str, camera: str, start: datetime = T0, hours: int = 24) -> SightingRow:
    return SightingRow(
        f"sig_{secrets.token_hex(8)}",
        subject,
        camera,
        "wl_1",
        start,
        start + timedelta(seconds=30),
        0.95,
        start + timedelta(seconds=30, hours=hours),
        b"\x01sealed",
    )


def test_cameras_round_trip_and_names_are_unique(store: Store) -> None:
    camera = _camera()
    with store.transaction() as tx:
        tx.insert_camera(camera)
        tx.insert_camera(_camera("hall", latitude=None, longitude=None, watchlists=()))
    assert store.get_camera(camera.camera_id) == camera
    assert store.camera_by_name("door") == camera
    assert [c.name for c in store.list_cameras()] == ["door", "hall"]
    with pytest.raises(ConflictError), store.transaction() as tx:
        tx.insert_camera(_camera("door"))


def _raw(store: Store, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run ``sql`` (``?`` placeholders) on the store's database, behind its back."""
    if isinstance(store, SqliteStore):
        conn = sqlite3.connect(store.path)
        try:
            with conn:
                return conn.execute(sql, params).fetchall()
        finally:
            conn.close()
    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.url) as pg:
        cursor = pg.execute(sql.replace("?", "%s"), params)
        return cursor.fetchall() if cursor.description else []


def test_a_camera_source_is_stored_sealed_only(store: Store) -> None:
    camera = _camera(sealed_source=None)
    with store.transaction() as tx:
        tx.insert_camera(camera)
        with pytest.raises(ValueError, match="sealed only"):
            tx.insert_camera(_camera("hall", legacy_source="rtsp://user:pw@cam/1"))
    assert _raw(store, "SELECT legacy_source FROM cameras") == [(None,)]
    # A row as migration 4 leaves a schema-3 one: the plaintext waits in legacy_source.
    _raw(store, "UPDATE cameras SET legacy_source = ?", ("rtsp://user:pw@cam/1",))
    legacy = store.get_camera(camera.camera_id)
    assert legacy is not None and legacy.legacy_source == "rtsp://user:pw@cam/1"
    assert legacy.sealed_source is None
    assert "pw@" not in repr(legacy)
    with store.transaction() as tx:
        assert tx.set_camera_source(camera.camera_id, b"\x01sealed")
        assert not tx.set_camera_source("cam_missing", b"\x01sealed")
    sealed = store.camera_by_name("door")
    assert sealed is not None
    assert (sealed.sealed_source, sealed.legacy_source) == (b"\x01sealed", None)
    assert _raw(store, "SELECT legacy_source FROM cameras") == [(None,)]


def test_sightings_go_with_their_subject_or_camera_and_expire(store: Store) -> None:
    camera = _camera()
    with store.transaction() as tx:
        tx.insert_camera(camera)
    alice, bob = _subject(store), _subject(store)
    first = _sighting(alice, camera.camera_id)
    # One raised with its alert's severity kept, one from before severities were kept.
    later = replace(
        _sighting(alice, camera.camera_id, T0 + timedelta(hours=2), hours=1), severity="alarm"
    )
    with store.transaction() as tx:
        tx.insert_sighting(first)
        tx.insert_sighting(later)
        tx.insert_sighting(_sighting(bob, camera.camera_id))
        with pytest.raises(NotFoundError):
            tx.insert_sighting(_sighting("sub_missing", camera.camera_id))
    assert store.get_sighting(first.sighting_id) == first
    assert store.sightings_of(alice, T0) == [first, later]
    assert store.sightings_of(alice, T0 + timedelta(hours=1)) == [later]
    # An upper bound (an approved history's request time) leaves later sightings out.
    assert store.sightings_of(alice, T0, T0 + timedelta(hours=1)) == [first]
    window = store.sightings_at(camera.camera_id, "wl_1", T0, T0 + timedelta(minutes=1))
    assert {s.subject_id for s in window} == {alice, bob}
    with store.transaction() as tx:
        assert tx.update_sighting(
            first.sighting_id,
            last_seen=T0 + timedelta(minutes=5),
            best_similarity=0.97,
            expires_at=T0 + timedelta(minutes=5, hours=24),
        )
        kept = tx.get_sighting(first.sighting_id)
        assert kept is not None and kept.thumbnail == first.thumbnail  # None: left as it was
        assert kept.severity is None and store.get_sighting(later.sighting_id) == later
        assert kept.best_similarity == pytest.approx(0.97)
        assert tx.update_sighting(
            first.sighting_id,
            last_seen=T0 + timedelta(minutes=6),
            best_similarity=0.98,
            expires_at=T0 + timedelta(minutes=6, hours=24),
            thumbnail=b"\x02sealed",
        )
        replaced = tx.get_sighting(first.sighting_id)
        assert replaced is not None and replaced.thumbnail == b"\x02sealed"
        assert not tx.update_sighting(
            "sig_missing", last_seen=T0, best_similarity=0.5, expires_at=T0
        )
        assert tx.delete_sightings_expired(T0 + timedelta(hours=3, seconds=30)) == 1
    assert store.get_sighting(later.sighting_id) is None
    with store.transaction() as tx:
        tx.delete_subject(bob)
    assert store.count_sightings() == 1
    with store.transaction() as tx:
        assert tx.delete_camera(camera.camera_id)
    assert store.count_sightings() == 0


def test_history_requests_are_approved_once(store: Store) -> None:
    subject = _subject(store)
    request = HistoryRequestRow("req_1", subject, 24, "CASE-1", "user:ann", T0)
    with store.transaction() as tx:
        tx.insert_history_request(request)
        assert tx.approve_history_request("req_1", "user:bob", T0)
        assert not tx.approve_history_request("req_1", "user:eve", T0)
    stored = store.get_history_request("req_1")
    assert stored is not None and (stored.approved_by, stored.approved_at) == ("user:bob", T0)


def test_crowd_buckets_are_replaced_per_camera_and_start(store: Store) -> None:
    camera = _camera()
    bucket = CrowdBucketRow(
        camera.camera_id, T0, 60, 30, 6, 4.5, 7, 5.25, 9, {"<10s": 3}, ((1, 0), (0, 2))
    )
    with store.transaction() as tx:
        tx.insert_camera(camera)
        tx.put_crowd_bucket(bucket)
        tx.put_crowd_bucket(bucket)
    assert store.crowd_buckets(camera.camera_id, T0, T0 + timedelta(minutes=1)) == [bucket]
    assert store.crowd_buckets(camera.camera_id, T0 + timedelta(seconds=1), T0 + timedelta(1)) == []


def test_a_cameras_entries_in_meta_go_with_it(store: Store) -> None:
    door, hall = _camera(), _camera("hall")
    kinds = ("camera_progress", "camera_retention_raised", "camera_state")
    with store.transaction() as tx:
        for camera in (door, hall):
            tx.insert_camera(camera)
            for kind in kinds:
                tx.set_meta(f"{kind}:{camera.camera_id}", "{}")
    with store.transaction() as tx:
        assert tx.delete_camera(door.camera_id)
    assert [store.get_meta(f"{kind}:{door.camera_id}") for kind in kinds] == [None] * 3
    assert [store.get_meta(f"{kind}:{hall.camera_id}") for kind in kinds] == ["{}"] * 3


def test_occupancy_alerts_are_read_newest_first_and_go_with_camera_and_retention(
    store: Store,
) -> None:
    door, hall = _camera(), _camera("hall")
    alerts = [
        OccupancyAlertRow(door.camera_id, T0, 51, 50),
        OccupancyAlertRow(hall.camera_id, T0 + timedelta(minutes=1), 60, 50),
        OccupancyAlertRow(door.camera_id, T0 + timedelta(minutes=6), 55, 50),
    ]
    with store.transaction() as tx:
        tx.insert_camera(door)
        tx.insert_camera(hall)
        for alert in alerts:
            tx.insert_occupancy_alert(alert)
        tx.insert_occupancy_alert(replace(alerts[0], people=52))  # same camera and instant
    newest = [alerts[2], alerts[1], replace(alerts[0], people=52)]
    assert store.occupancy_alerts(T0 - timedelta(seconds=1), 10) == newest
    assert store.occupancy_alerts(T0, 10) == newest[:2]  # strictly after
    assert store.occupancy_alerts(T0 - timedelta(seconds=1), 1) == newest[:1]
    assert store.occupancy_alerts(T0 - timedelta(1), 10, door.camera_id) == newest[::2]
    with store.transaction() as tx:
        assert tx.delete_crowd_buckets_before(T0 + timedelta(minutes=1)) == 1
        assert tx.delete_camera(hall.camera_id)
    assert store.occupancy_alerts(T0 - timedelta(1), 10) == alerts[2:]


_V3_CAMERA = (
    "INSERT INTO cameras VALUES (?, 'gate', 'north gate', NULL, NULL, '[]', ?, NULL, ?, ?, ?)"
)
_URL = "rtsp://admin:Secret-99@10.20.30.40:554/live"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migration_4_keeps_a_schema_3_plaintext_source_for_the_service_to_seal(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    versions = (
        "CREATE TABLE schema_version (version integer PRIMARY KEY, "
        "description text NOT NULL, applied_at {} NOT NULL)"
    )
    opened: Store
    if backend == "sqlite":
        path = tmp_path / "fw.db"
        conn = sqlite3.connect(path)
        with conn:
            conn.execute(versions.format("text"))
            for m in MIGRATIONS[:3]:
                for statement in m.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)",
                    (m.version, m.description, T0.isoformat()),
                )
            conn.execute(_V3_CAMERA, ("cam_0123456789abcdef", 0, _URL, 0, ts_text(T0)))
        conn.close()
        opened = open_sqlite(path)
    else:
        server: EmbeddedPostgres = request.getfixturevalue("pg_server")
        url = server.create_database(f"v3_{secrets.token_hex(6)}")
        with psycopg.connect(url) as pg:
            pg.execute(versions.format("timestamptz"))
            for m in PG_MIGRATIONS[:3]:
                for statement in m.statements:
                    pg.execute(statement)
                pg.execute(
                    "INSERT INTO schema_version VALUES (%s, %s, %s)",
                    (m.version, m.description, T0),
                )
            pg.execute(
                _V3_CAMERA.replace("?", "%s"), ("cam_0123456789abcdef", False, _URL, False, T0)
            )
        opened = open_postgres(url)
    try:
        assert opened.schema_version == latest_version()
        (row,) = opened.list_cameras()
        assert (row.camera_id, row.name, row.legacy_source, row.sealed_source) == (
            "cam_0123456789abcdef",
            "gate",
            _URL,
            None,
        )
        with opened.transaction() as tx:
            assert tx.set_camera_source(row.camera_id, b"\x01sealed")
        assert _raw(opened, "SELECT legacy_source, sealed_source FROM cameras") == [
            (None, b"\x01sealed")
        ]
    finally:
        opened.close()
