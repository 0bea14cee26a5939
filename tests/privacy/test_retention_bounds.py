"""Every table that grows with time is bounded by the purge, on SQLite and on PostgreSQL.

SECURITY.md: every feature is bounded, and retention really deletes. Crowd
counts are anonymous but were never purged: a camera writes a row a minute,
so the table grew for as long as the deployment ran, raw small counts (one
person at a shelter's door at 3 a.m.) included. Here each class is written
through the service as a deployment writes it, the injected clock is moved
past its retention, and the purge (`facewarden purge`, the server's own)
deletes what expired and nothing else, and audits it; where the rows hold
someone's data, it compacts the store so they are carved from no file of it.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from facewarden.config import Settings
from facewarden.errors import AuthenticationError, PermissionDeniedError
from facewarden.privacy import ManualClock
from facewarden.privacy.retention import (
    CROWD,
    HISTORY_REQUESTS,
    LOCKOUTS,
    SESSIONS,
    SIGHTINGS,
    policies_from_settings,
)
from facewarden.service import SubjectRecord, Warden
from facewarden.service.crowd import CrowdCounter
from facewarden.store import DB_NAME
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.types import Box

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """Settings of a fresh deployment and its backend's name."""
    url = None
    if request.param == "postgres":
        server: EmbeddedPostgres = request.getfixturevalue("pg_server")
        url = server.create_database(f"bounds_{secrets.token_hex(6)}")
    yield (
        Settings(
            data_dir=tmp_path / "data",
            key_dir=tmp_path / "keys",
            database_url=url,
            crowd_retention_days=30,
        ),
        request.param,
    )


def _store_files(warden: Warden, settings: Settings) -> bytes:
    """Every file of the store: SQLite's data directory, or PostgreSQL's database and WAL."""
    roots = [settings.data_dir]
    if settings.database_url is not None:
        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute(
                "SELECT current_setting('data_directory'), d.oid FROM pg_database d "
                "WHERE d.datname = current_database()"
            ).fetchone()
        assert row is not None
        cluster = Path(row[0])
        roots = [cluster / "base" / str(row[1]), cluster / "pg_wal"]
    chunks = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                with suppress(FileNotFoundError):  # the server removed it while we walked
                    chunks.append(path.read_bytes())
    return b"\x00".join(chunks)


def _count(warden: Warden, camera_id: str, when: datetime, people: int) -> datetime:
    """A minute of frames with ``people`` in view, counted and saved; the bucket's start."""
    counter = CrowdCounter(camera_id)
    boxes = {i: Box(40.0 * i, 40.0, 40.0 * i + 30, 80.0) for i in range(people)}
    for second in range(0, 50, 5):
        counter.observe(when + timedelta(seconds=second), boxes, people, (640, 480))
    (row,) = counter.flush()
    warden.crowd.save([row])
    return row.start


def test_crowd_counts_expire_after_their_retention(deployment: tuple[Settings, str]) -> None:
    # Deleted, not compacted: anonymous aggregates, and on PostgreSQL an hourly
    # rewrite of the largest table would hold the cameras' bucket writes for minutes.
    settings, _ = deployment
    assert {p.data_class: p.max_age for p in policies_from_settings(Settings())}[
        CROWD
    ] == timedelta(days=365), "crowd counts need a bounded retention by default"
    clock = ManualClock(T0)
    with Warden.open(settings, clock=clock, create=True, actor="test:bounds") as warden:
        camera = warden.cameras.add("shelter-door", location="night shelter")
        old = _count(warden, camera.camera_id, T0 + timedelta(minutes=17, seconds=3), 1)
        recent = _count(warden, camera.camera_id, T0 + timedelta(days=20, minutes=3), 6)

        clock.advance(timedelta(days=29))
        assert warden.purge().deleted[CROWD] == 0
        window = (T0, T0 + timedelta(days=60))
        assert [b.start for b in warden.store.crowd_buckets(camera.camera_id, *window)] == [
            old,
            recent,
        ]

        clock.advance(timedelta(days=1, minutes=18))
        report = warden.purge()
        assert report.deleted[CROWD] == 1
        assert [b.start for b in warden.store.crowd_buckets(camera.camera_id, *window)] == [recent]
        purges = [e for e in warden.audit.entries(limit=100) if e.action == "retention.purge"]
        assert purges[-1].details[CROWD] == 1


def _rows(settings: Settings, table: str) -> int:
    """The rows of ``table``, counted in the store itself (as whoever holds its files would)."""
    query = f"SELECT COUNT(*) FROM {table}"
    if settings.database_url is not None:
        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute(query).fetchone()
    else:
        with closing(sqlite3.connect(settings.data_dir / DB_NAME)) as db:
            row = db.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def test_sessions_lockouts_and_history_requests_are_deleted_by_the_purge(
    deployment: tuple[Settings, str], faces_dir: Path
) -> None:
    """Sign-in sessions, lockout counters and location-history requests expire too.

    Expired sessions and lockouts were deleted only when someone next signed
    in or failed to: a user who signed in once left a row of when, forever.
    History requests (who asked for whose movements, under which case) were
    never deleted at all, and an approval stayed usable for ever.
    """
    settings, _ = deployment
    settings = settings.model_copy(
        update={"history_needs_approval": True, "mode": "fast", "enroll_mode": "fast"}
    )
    clock = ManualClock(T0)
    photo = faces_dir / "face_recognition" / "examples" / "knn_examples" / "train" / "obama"
    with Warden.open(settings, clock=clock, create=True, actor="user:ann") as ann:
        ann.watchlists.create("entrance", purpose="site access", lawful_basis="test")
        record = SubjectRecord(full_name="Barack Obama", lawful_basis="test")
        subject = ann.registry.enroll(record, [photo / "obama.jpg"]).subject_id
        limiter = ann.auth_limiter().logins
        ann.access.create_user("alice", "a long enough passphrase", "operator")
        ann.access.login("alice", "a long enough passphrase", client="203.0.113.9", limiter=limiter)
        with pytest.raises(AuthenticationError):
            ann.access.login("alice", "a wrong guess here", client="198.51.100.7", limiter=limiter)
        request = ann.sightings.history(
            subject, 24, role="investigator", case_reference="C-7", reason="a stolen car"
        ).request_id
        assert request is not None
        ann.with_actor("user:bob").sightings.approve(request, role="investigator")
        assert [_rows(settings, t) for t in ("sessions", "history_requests")] == [1, 1]
        assert _rows(settings, "lockouts") > 0 and _rows(settings, "history_request_notes") == 1

        clock.advance(timedelta(days=1))  # the session and the lockouts are over
        report = ann.purge()
        assert (report.deleted[SESSIONS], report.deleted[HISTORY_REQUESTS]) == (1, 0)
        assert report.deleted[LOCKOUTS] > 0
        assert [_rows(settings, t) for t in ("sessions", "lockouts", "history_requests")] == [
            0,
            0,
            1,
        ]
        ann.sightings.history(
            subject, 24, role="investigator", case_reference="C-7", request_id=request
        )

        # Past the 31 days a request is listed for, it is of no use: it goes,
        # with its sealed reason, and its approval with it.
        clock.advance(timedelta(days=30, minutes=1))
        assert ann.purge().deleted[HISTORY_REQUESTS] == 1
        assert _rows(settings, "history_requests") == _rows(settings, "history_request_notes") == 0
        with pytest.raises(PermissionDeniedError):
            ann.sightings.history(
                subject, 24, role="investigator", case_reference="C-7", request_id=request
            )


def _sighting_rows(blob: bytes, sighting_id: str) -> list[bytes]:
    """Each place ``sighting_id`` is stored next to a subject id and a camera id (a row)."""
    pattern = re.escape(sighting_id.encode()) + rb".{0,4}sub_[0-9a-f]{16}.{0,4}cam_[0-9a-f]{16}"
    return re.findall(pattern, blob, re.DOTALL)


def test_a_removed_camera_leaves_the_files_at_the_next_purge(
    deployment: tuple[Settings, str], faces_dir: Path
) -> None:
    """A camera's removal deletes its sightings (who was where) and its sealed place, and
    the next purge takes them from the files, as it does an expired sighting's.

    The removal was not compacted: the rows stayed in PostgreSQL's dead row
    versions and WAL, and in SQLite's WAL, for as long as no purge happened to
    rewrite those tables for a reason of its own. The audit log does not keep
    them: a sighting is audited without its subject.
    """
    settings, _ = deployment
    settings = settings.model_copy(update={"mode": "fast", "enroll_mode": "fast"})
    photo = faces_dir / "face_recognition" / "examples" / "knn_examples" / "train" / "obama"
    with Warden.open(settings, clock=ManualClock(T0), create=True, actor="test:bounds") as warden:
        warden.watchlists.create("entrance", purpose="site access", lawful_basis="test")
        record = SubjectRecord(full_name="Barack Obama", lawful_basis="test")
        subject = warden.registry.enroll(
            record, [photo / "obama.jpg"], watchlists=("entrance",)
        ).subject_id
        warden.cameras.add("side-door", location="night shelter side door", watchlists=["entrance"])
        camera = warden.store.camera_by_name("side-door")
        assert camera is not None
        sighting = warden.sightings.open_visit(
            camera, subject, camera.watchlists[0], T0, T0 + timedelta(seconds=5), 0.95
        )
        before = _store_files(warden, settings)
        assert _sighting_rows(before, sighting) and camera.location.encode() in before

        warden.cameras.remove("side-door")
        warden.purge()  # nothing has expired: it compacts what the removal left
        after = _store_files(warden, settings)
        assert _sighting_rows(after, sighting) == []
        assert camera.location.encode() not in after


def test_a_shortened_retention_applies_to_the_sightings_already_kept(
    deployment: tuple[Settings, str], faces_dir: Path
) -> None:
    """Sightings follow the retention declared now, not the one when they were written.

    Each sighting carried the expiry of the retention in force when it was
    written, and only that: a deployment that lowered its retention after a
    review (30 days to the default 24 hours), or a watchlist given a shorter
    one, kept every sighting already written for the old length, while the
    records of processing declared the new one. An admin's raised camera
    retention still holds for that camera.
    """
    settings, _ = deployment
    settings = settings.model_copy(
        update={"mode": "fast", "enroll_mode": "fast", "sighting_retention_hours": 720}
    )
    clock = ManualClock(T0)
    photo = faces_dir / "face_recognition" / "examples" / "knn_examples" / "train" / "obama"
    with Warden.open(settings, clock=clock, create=True, actor="test:bounds") as warden:
        warden.watchlists.create("entrance", purpose="site access", lawful_basis="test")
        record = SubjectRecord(full_name="Barack Obama", lawful_basis="test")
        subject = warden.registry.enroll(
            record, [photo / "obama.jpg"], watchlists=("entrance",)
        ).subject_id
        warden.cameras.add("door", location="front door", watchlists=["entrance"])
        warden.cameras.add(
            "vault", location="vault", watchlists=["entrance"], retention_hours=2000, role="admin"
        )
        seen = {}
        for name in ("door", "vault"):
            camera = warden.store.camera_by_name(name)
            assert camera is not None
            seen[name] = warden.sightings.open_visit(
                camera, subject, camera.watchlists[0], T0, T0 + timedelta(seconds=5), 0.95
            )

    lowered = settings.model_copy(update={"sighting_retention_hours": 24})
    with Warden.open(lowered, clock=clock, actor="test:bounds") as warden:
        clock.advance(timedelta(hours=24, seconds=5))
        assert warden.purge().deleted[SIGHTINGS] == 1
        assert warden.store.get_sighting(seen["door"]) is None
        assert warden.store.get_sighting(seen["vault"]) is not None  # raised by an admin

        clock.advance(timedelta(hours=2))
        warden.sightings.set_watchlist_retention("entrance", 2)
        assert warden.purge().deleted[SIGHTINGS] == 1
        assert warden.store.count_sightings() == 0
