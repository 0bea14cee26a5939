"""The retention policy table and purge, on a real store with an injected clock."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from facewarden.config import Settings
from facewarden.privacy import ManualClock
from facewarden.privacy.retention import (
    CROWD,
    HISTORY_REQUESTS,
    IMPORT_PROGRESS,
    LOCKOUTS,
    PHOTOS,
    SESSIONS,
    SIGHTINGS,
    SUBJECTS,
    RetentionPolicy,
    policies_from_settings,
    purge,
)
from facewarden.store import FaceRow, PhotoRow, SubjectRow, open_sqlite

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_policies_come_from_the_settings_with_safe_defaults(tmp_path: Path) -> None:
    defaults = {p.data_class: p.max_age for p in policies_from_settings(Settings())}
    assert defaults == {
        SUBJECTS: None,
        PHOTOS: None,
        IMPORT_PROGRESS: timedelta(days=30),
        SIGHTINGS: timedelta(hours=24),
        CROWD: timedelta(days=365),
        HISTORY_REQUESTS: timedelta(days=31),
        SESSIONS: timedelta(minutes=Settings().session_minutes),
        LOCKOUTS: None,
    }
    custom = policies_from_settings(Settings(photo_retention_days=7, subject_retention_days=365))
    assert {p.data_class: p.max_age for p in custom}[PHOTOS] == timedelta(days=7)
    assert RetentionPolicy(PHOTOS, None, "").cutoff(T0) is None
    assert RetentionPolicy(PHOTOS, timedelta(days=1), "").cutoff(T0) == T0 - timedelta(days=1)


def test_purge_deletes_only_what_expired(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    store = open_sqlite(tmp_path / "db", create=True)
    sid, fid = f"sub_{secrets.token_hex(8)}", f"face_{secrets.token_hex(8)}"
    with store.transaction() as tx:
        tx.insert_subject(SubjectRow(sid, b"k" * 62, None, {}, T0, T0))
        tx.insert_face(FaceRow(fid, sid, "m", b"t", T0))
        tx.insert_photo(PhotoRow(fid, b"photo", T0))
        tx.record_import("source", sid, T0)
    policies = (
        RetentionPolicy(SUBJECTS, timedelta(days=100), ""),
        RetentionPolicy(PHOTOS, timedelta(days=10), ""),
        RetentionPolicy(IMPORT_PROGRESS, timedelta(days=30), ""),
    )
    erased: list[str] = []
    clock.advance(timedelta(days=11))
    with store.transaction() as tx:
        report = purge(tx, policies, clock(), erased.append)
    assert dict(report.deleted) == {SUBJECTS: 0, PHOTOS: 1, IMPORT_PROGRESS: 0}
    clock.advance(timedelta(days=90))
    with store.transaction() as tx:
        report = purge(tx, policies, clock(), lambda s: (erased.append(s), tx.delete_subject(s))[0])
    assert erased == [sid] and report.erased_subjects == (sid,)
    # The import record went with its subject (a cascade), before its own turn came.
    assert dict(report.deleted) == {SUBJECTS: 1, PHOTOS: 0, IMPORT_PROGRESS: 0}
    assert store.import_record("source") is None
    with store.transaction() as tx, pytest.raises(ValueError, match="no purger"):
        purge(tx, (RetentionPolicy("unknown", timedelta(hours=24), ""),), clock(), erased.append)
    store.close()
