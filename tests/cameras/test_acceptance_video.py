"""Acceptance 1 and 2 of issue 5: a synthetic video from real photos with known ground truth.

Five people walk through a camera's view, each tile a real photo (a different
photo from the one enrolled): Obama twice (two visits 12.5 s apart), Biden
once (both enrolled on the camera's watchlist), Alex Lacamoire once (enrolled,
but on a watchlist the camera does not check), Kit Harington and Rose Leslie
once each (not enrolled).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from facewarden.privacy import ManualClock
from facewarden.service import Warden
from facewarden.service.alerts import SightingAlert
from facewarden.service.frames import FrameProcessor
from facewarden.service.ingest import watch
from facewarden.vision.sources import FileSource

from ._video import RGB, Walk, face_crop, write_video
from .conftest import T0, enroll

FPS_BUDGET = 5.0
TILE = 130


@pytest.fixture(scope="module")
def scene(knn: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Walk]]:
    """The video and its walks (ground truth)."""

    def tile(person: str, photo: str) -> RGB:
        return face_crop(knn / person / photo, TILE)

    walks = [
        Walk("obama", tile("obama", "obama2.jpg"), 0.5, 4.5, (20, 60), (480, 80)),
        Walk("kit", tile("kit_harington", "john2.jpeg"), 2.0, 9.0, (490, 320), (490, 200)),
        Walk("biden", tile("biden", "biden2.jpg"), 5.0, 11.0, (40, 300), (470, 200)),
        Walk("rose", tile("rose_leslie", "img2.jpg"), 10.0, 16.0, (60, 40), (450, 60)),
        Walk("alex", tile("alex_lacamoire", "img1.jpg"), 12.0, 16.0, (100, 320), (300, 320)),
        Walk("obama", tile("obama", "obama2.jpg"), 17.0, 21.0, (480, 300), (40, 280)),
    ]
    path = tmp_path_factory.mktemp("video") / "entrance.mp4"
    return write_video(path, walks, seconds=22.0, fps=10.0), walks


def _setup(warden: Warden, knn: Path) -> dict[str, str]:
    warden.watchlists.create("entrance", purpose="site access", lawful_basis="test")
    warden.watchlists.create("other", purpose="another site", lawful_basis="test")
    return {
        "obama": enroll(warden, "Barack Obama", knn / "obama" / "obama.jpg", ("entrance",)),
        "biden": enroll(warden, "Joe Biden", knn / "biden" / "biden.jpg", ("entrance",)),
        "alex": enroll(warden, "Alex Lacamoire", knn / "alex_lacamoire" / "img1.jpg", ("other",)),
    }


def test_enrolled_people_yield_one_sighting_per_visit_and_strangers_nothing(
    warden: Warden, knn: Path, scene: tuple[Path, list[Walk]], clock: ManualClock
) -> None:
    video, walks = scene
    subjects = _setup(warden, knn)
    camera = warden.cameras.add("door", location="north entrance", watchlists=["entrance"])
    alerts: list[dict[str, object]] = []
    hook = SightingAlert(
        "http://127.0.0.1/hook", post=lambda _, body: alerts.append(json.loads(body))
    )
    processor = FrameProcessor(warden, "door", sighting_alert=hook)
    source = FileSource(video, fps_budget=FPS_BUDGET)
    summary = watch(warden, "door", source, start=T0, processor=processor)
    assert summary.frames == pytest.approx(22 * FPS_BUDGET, abs=2)

    sightings = warden.sightings.at_camera(
        "entrance", "door", T0, T0 + timedelta(minutes=1), role="operator"
    )
    got = sorted(
        (
            s.subject_id,
            round((s.first_seen - T0).total_seconds(), 1),
            round((s.last_seen - T0).total_seconds(), 1),
        )
        for s in sightings
    )
    expected = sorted(
        (subjects[w.person], w.start, w.end) for w in walks if w.person in ("obama", "biden")
    )
    assert [g[0] for g in got] == [e[0] for e in expected], got
    for (subject, first, last), (_, start, end) in zip(got, expected, strict=True):
        assert first == pytest.approx(start, abs=0.6), (subject, got)
        assert last == pytest.approx(end, abs=0.6), (subject, got)
    for sighting in sightings:
        assert sighting.camera_id == camera.camera_id
        assert sighting.best_similarity >= 0.93
        assert sighting.expires_at == sighting.last_seen + timedelta(hours=24)

    # One alert per sighting, with ids only.
    assert sorted(a["sighting"] for a in alerts) == sorted(s.sighting_id for s in sightings)
    assert all(set(a) == {"event", "sighting", "camera", "watchlist", "at"} for a in alerts)

    # The unique-visitor estimate (5 people, Obama twice) within 10%.
    assert abs(summary.visitors - 5) <= 0.5
    # Identification ran per track, not per frame.
    assert summary.identifications <= 3 * len(walks)

    # Nothing stored about the people not enrolled (nor about Alex, off this camera's lists).
    warden.store.checkpoint()
    db = sqlite3.connect(warden.store.location)
    try:
        assert db.execute("SELECT COUNT(*) FROM subjects").fetchone()[0] == 3
        assert db.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 3
        stored = {r[0] for r in db.execute("SELECT subject_id FROM sightings")}
        assert stored == {subjects["obama"], subjects["biden"]}
        assert db.execute("SELECT COUNT(*) FROM photos").fetchone()[0] == 0
        buckets = db.execute("SELECT frames, faces_max, unique_visitors FROM crowd_buckets")
        assert sum(r[0] for r in buckets) == summary.frames
    finally:
        db.close()


def test_a_sensitive_camera_counts_and_identifies_nobody(
    warden: Warden, knn: Path, scene: tuple[Path, list[Walk]]
) -> None:
    video, _ = scene
    _setup(warden, knn)
    with pytest.raises(Exception, match="sensitive camera identifies nobody"):
        warden.cameras.add("chapel", location="chapel", watchlists=["entrance"], sensitive=True)
    warden.cameras.add("chapel", location="chapel", sensitive=True)
    before = len(warden.audit.entries(limit=1000))
    summary = watch(warden, "chapel", FileSource(video, fps_budget=FPS_BUDGET), start=T0)

    assert summary.identifications == 0 and summary.sightings == []
    assert warden.store.count_sightings() == 0
    actions = [e.action for e in warden.audit.entries(limit=1000)[before:]]
    assert "identify" not in actions and "sighting.record" not in actions
    rows = warden.store.crowd_buckets(
        warden.cameras.get("chapel").camera_id, T0, T0 + timedelta(minutes=1)
    )
    assert sum(r.frames for r in rows) == summary.frames
    assert max(r.faces_max for r in rows) == 2
    assert abs(summary.visitors - 5) <= 0.5
