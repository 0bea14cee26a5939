"""A whole deployment on PostgreSQL, with the HNSW gallery index: the same answers.

The store contract runs on both backends in ``tests/store``; this shows the
service layer on top of PostgreSQL end to end (enroll, identify, erase,
reopen) with real photos, and the HNSW index saved encrypted and loaded
again instead of rebuilt.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from facewarden.privacy import ManualClock
from facewarden.service import Warden
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.store.postgres import PostgresStore

from ._data import KNN
from .conftest import make_settings

OBAMA = sorted((KNN / "train" / "obama").iterdir())
BIDEN = sorted((KNN / "train" / "biden").iterdir())


def test_enroll_identify_erase_and_reopen_on_postgres_with_hnsw(
    pg_server: EmbeddedPostgres,
    tmp_path: Path,
    clock: ManualClock,
    enroll: Callable[..., object],
    faces_dir: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = pg_server.create_database(f"w_{secrets.token_hex(6)}")
    settings = make_settings(tmp_path, database_url=url, gallery_index="ann")
    with Warden.open(settings, clock=clock, create=True, actor="test:pg") as warden:
        assert isinstance(warden.store, PostgresStore)
        warden.watchlists.create("staff", purpose="test", lawful_basis="test")
        obama = enroll(warden, "Barack", OBAMA, watchlists=["staff"])
        enroll(warden, "Joe", BIDEN, watchlists=["staff"])
        result = warden.recognition.identify(KNN / "test" / "obama1.jpg", "staff")
        assert result.matched_subjects == (obama.subject_id,)  # type: ignore[attr-defined]
        assert warden.integrity_check() == []
    index_files = list((settings.data_dir / "index").glob("*.ann"))
    assert index_files, "the HNSW index was not saved"
    assert b"obama" not in index_files[0].read_bytes().lower()
    with Warden.open(settings, clock=clock, actor="test:pg") as warden:
        with caplog.at_level(logging.INFO, logger="facewarden.service.gallery"):
            warden.warm_up()
        assert "HNSW index of" in caplog.text and "loaded from" in caplog.text
        result = warden.recognition.identify(KNN / "test" / "obama1.jpg", "staff")
        assert result.matched_subjects == (obama.subject_id,)  # type: ignore[attr-defined]
        warden.registry.erase(obama.subject_id)  # type: ignore[attr-defined]
        assert not list((settings.data_dir / "index").glob("*.ann")), "a stale index lingers"
        result = warden.recognition.identify(KNN / "test" / "obama1.jpg", "staff")
        assert result.matched_subjects == ()


def _relation_file(url: str, table: str) -> tuple[int, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT relfilenode, pg_relation_filepath(%s::regclass) FROM pg_class "
            "WHERE oid = %s::regclass",
            (table, table),
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def test_a_purge_rewrites_only_the_tables_it_deleted_from(
    pg_server: EmbeddedPostgres,
    tmp_path: Path,
    clock: ManualClock,
    enroll: Callable[..., object],
    faces_dir: object,
) -> None:
    # VACUUM FULL locks and rewrites a table (at a million faces, minutes, with
    # the HNSW index rebuilt): a purge that expired sightings rewrites those
    # only, and their bytes leave the server's files.
    url = pg_server.create_database(f"p_{secrets.token_hex(6)}")
    settings = make_settings(tmp_path, database_url=url)
    with Warden.open(settings, clock=clock, create=True, actor="test:pg") as warden:
        warden.watchlists.create("entrance", purpose="test", lawful_basis="test")
        subject = enroll(warden, "Barack", OBAMA[:1], watchlists=["entrance"]).subject_id  # type: ignore[attr-defined]
        warden.cameras.add("door", location="north", watchlists=["entrance"], keep_thumbnails=True)
        camera = warden.store.camera_by_name("door")
        assert camera is not None
        thumbnail = b"\xff\xd8 a face " + secrets.token_bytes(32)
        sid = warden.sightings.open_visit(
            camera, subject, camera.watchlists[0], clock(), clock(), 0.95, thumbnail
        )
        stored = warden.store.get_sighting(sid)
        assert stored is not None and stored.thumbnail is not None
        sealed = stored.thumbnail
        warden.store.checkpoint()
        before = {t: _relation_file(url, t) for t in ("sightings", "faces", "face_vectors")}
        assert sealed in (pg_server.data / before["sightings"][1]).read_bytes()

        clock.advance(timedelta(hours=25))
        assert warden.purge().deleted["sightings"] == 1
        after = {t: _relation_file(url, t) for t in before}
        assert after["sightings"][0] != before["sightings"][0]  # rewritten
        assert after["faces"] == before["faces"] and after["face_vectors"] == before["face_vectors"]
        assert not (pg_server.data / before["sightings"][1]).exists()
        assert sealed not in (pg_server.data / after["sightings"][1]).read_bytes()
        # Nothing expired: nothing is rewritten.
        warden.purge()
        assert {t: _relation_file(url, t) for t in before} == after
