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
from pathlib import Path

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
