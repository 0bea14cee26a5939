"""Two enrolled people cross in front of a camera at walking speed: one track and one sighting each.

At the camera path's 5 frames a second a walking face moves more than its
width between frames, so their boxes never overlap; where the two cross, the
nearer hides the other. Each track must follow one person from entry to exit
(no identity switch at the crossing), so each person's sighting spans their
own visit.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from facewarden.service.camera_pipeline import video_pipeline
from facewarden.service.frames import FrameProcessor
from facewarden.service.warden import Warden

from ._video import Walk, background, face_crop, frame_at
from .conftest import T0, enroll

FPS_BUDGET = 5.0
SIZE = (1280, 360)
TILE = 137  # a face of about 56 px: identifiable, as far away as that allows
# 1.2 m/s with a 16 cm face of 56 px: 420 px a second, 1.5 face widths a frame.
SPEED = 420.0


def test_two_people_crossing_keep_their_own_tracks_and_sightings(warden: Warden, knn: Path) -> None:
    warden.watchlists.create("gate", purpose="site access", lawful_basis="test")
    subjects = {
        "obama": enroll(warden, "Barack Obama", knn / "obama" / "obama.jpg", ("gate",)),
        "biden": enroll(warden, "Joe Biden", knn / "biden" / "biden.jpg", ("gate",)),
    }
    warden.cameras.add("gate", location="gate", watchlists=["gate"])
    seconds = (SIZE[0] - TILE) / SPEED
    walks = [  # opposite ways, 12 px apart: Biden (drawn last) passes in front
        Walk(
            "obama",
            face_crop(knn / "obama" / "obama2.jpg", TILE),
            0.0,
            seconds,
            (0, 100),
            (SIZE[0] - TILE, 100),
        ),
        Walk(
            "biden",
            face_crop(knn / "biden" / "biden2.jpg", TILE),
            0.0,
            seconds,
            (SIZE[0] - TILE, 112),
            (0, 112),
        ),
    ]
    backdrop = background(*SIZE)
    processor = FrameProcessor(warden, "gate", pipeline=video_pipeline(warden.pipeline, *SIZE))
    owners: dict[int, set[str]] = {}
    hits: dict[int, int] = {}

    frames = int(seconds * FPS_BUDGET)
    for index in range(frames):
        t = index / FPS_BUDGET
        processor.process(frame_at(t, walks, backdrop), T0 + timedelta(seconds=t))
        where = {w.person: np.add(w.position(t), TILE / 2) for w in walks}  # type: ignore[arg-type]
        for track in processor.tracker.tracks:
            if track.missed == 0:
                near = min(
                    where, key=lambda p: np.hypot(*(np.subtract(track.box.center, where[p])))
                )
                owners.setdefault(track.track_id, set()).add(near)
                hits[track.track_id] = track.hits
    processor.finish(T0 + timedelta(seconds=seconds + 1))
    followed = {tid: names for tid, names in owners.items() if hits[tid] >= 2}
    assert sorted(map(sorted, followed.values())) == [["biden"], ["obama"]], owners
    assert all(hits[tid] >= frames - 4 for tid in followed)  # each from entry to exit
    sightings = warden.sightings.at_camera(
        "gate", "gate", T0, T0 + timedelta(minutes=1), role="operator"
    )
    assert sorted(s.subject_id for s in sightings) == sorted(subjects.values())
    for sighting in sightings:
        assert (sighting.first_seen - T0).total_seconds() == pytest.approx(0.0, abs=0.5)
        assert (sighting.last_seen - T0).total_seconds() == pytest.approx(seconds, abs=0.5)
