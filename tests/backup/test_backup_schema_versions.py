"""An archive taken at an older schema version restores, and opening migrates it forward.

The archives here are real ones written at other schema versions: a
deployment is made with today's code, then its schema is rolled back to
version 6 (what migrations 7 and 8 added, the ``lockouts`` table and the
sightings' ``severity`` column, dropped and their ``schema_version`` rows
deleted), as a deployment of that release held it, and
its database is archived as that release's backup did (SQLite: the file;
PostgreSQL: each table it has, by ``COPY``). Restored into a fresh deployment
with today's code, it must open at the latest version with every subject and
the same identification results. An archive newer than this code is refused
with a typed error before anything is written.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from facewarden.config import Settings
from facewarden.errors import ConfigError
from facewarden.service import Warden
from facewarden.service.backup import restore
from facewarden.service.opening import database_path
from facewarden.store.migrations import latest_version
from facewarden.types import Face

from ._deployments import Deploy, archive_as_it_stands, enroll_all, fresh, identify


def _sql(settings: Settings, *statements: str) -> list[tuple[object, ...]]:
    """Run ``statements`` on the deployment's closed database, committed; the last one's rows."""
    rows: list[tuple[object, ...]] = []
    if settings.database_url is not None:
        with psycopg.connect(settings.database_url) as conn:
            for statement in statements:
                cur = conn.execute(statement)
                rows = cur.fetchall() if cur.description else []
        return rows
    db = sqlite3.connect(database_path(settings))
    try:
        with db:
            for statement in statements:
                rows = db.execute(statement).fetchall()
    finally:
        db.close()
    return rows


def _has_table(settings: Settings, table: str) -> bool:
    if settings.database_url is not None:
        return _sql(settings, f"SELECT to_regclass('{table}') IS NOT NULL")[0][0] is True
    return bool(_sql(settings, f"SELECT name FROM sqlite_master WHERE name = '{table}'"))


def test_an_archive_from_schema_version_6_restores_and_migrates_forward(
    deploy: Deploy, johns: dict[str, list[list[Face]]], tmp_path: Path
) -> None:
    settings = deploy(tmp_path / "live")
    with Warden.open(settings, create=True, actor="test:backup") as warden:
        ids = enroll_all(warden, johns)
        before = identify(warden, johns)
        head_seq = warden.audit.verify().head_seq
    # Undone newest first, down to version 6: version 10's and 9's tables, 8's column, 7's table.
    _sql(
        settings,
        "DROP TABLE occupancy_alerts",
        "DELETE FROM schema_version WHERE version = 10",
        "DROP TABLE alert_notes",
        "DELETE FROM schema_version WHERE version = 9",
        "ALTER TABLE sightings DROP COLUMN severity",
        "DELETE FROM schema_version WHERE version = 8",
        "DROP TABLE lockouts",
        "DELETE FROM schema_version WHERE version = 7",
    )
    assert not _has_table(settings, "lockouts") and not _has_table(settings, "alert_notes")
    assert _sql(settings, "SELECT MAX(version) FROM schema_version")[0][0] == 6
    archive = archive_as_it_stands(settings, head_seq, tmp_path / "v6.fwbackup")

    target = fresh(deploy, settings, tmp_path / "restored")
    report = restore(archive, target)

    assert report.subjects == len(ids)
    versions = _sql(target, "SELECT MAX(version) FROM schema_version")
    assert versions[0][0] == latest_version() == 10
    assert _has_table(target, "lockouts") and _has_table(target, "alert_notes")
    assert _has_table(target, "occupancy_alerts")
    assert _sql(target, "SELECT COUNT(severity) FROM sightings") == [(0,)]  # the column is back
    with Warden.open(target, actor="test:backup") as restored:
        assert {s.subject_id for s in restored.store.list_subjects(after=None, limit=100)} == set(
            ids.values()
        )
        assert identify(restored, johns) == before
        assert restored.audit.verify().ok


def test_an_archive_newer_than_this_code_is_refused_before_anything_is_written(
    deploy: Deploy, johns: dict[str, list[list[Face]]], tmp_path: Path
) -> None:
    settings = deploy(tmp_path / "live")
    with Warden.open(settings, create=True, actor="test:backup") as warden:
        enroll_all(warden, {name: faces for name, faces in list(johns.items())[:1]})
        head_seq = warden.audit.verify().head_seq
    future = latest_version() + 1
    _sql(
        settings,
        f"INSERT INTO schema_version VALUES ({future}, 'from a later release', CURRENT_TIMESTAMP)",
    )
    archive = archive_as_it_stands(settings, head_seq, tmp_path / "future.fwbackup")

    target = fresh(deploy, settings, tmp_path / "restored")
    with pytest.raises(ConfigError, match=f"schema version {future}, newer than this facewarden"):
        restore(archive, target)

    if target.database_url is not None:
        assert _sql(target, "SELECT to_regclass('schema_version') IS NULL")[0][0] is True
    else:
        assert not database_path(target).exists()
        assert not any(target.data_dir.iterdir())
