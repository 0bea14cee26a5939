"""The face tracker: IoU and appearance linking, births, deaths, best faces."""

from __future__ import annotations

import numpy as np
import pytest

from facewarden.types import Box, Face, Quality
from facewarden.vision.track import Tracker, face_score


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def _face(
    x: float, y: float, size: float = 80, person: int | None = 1, usable: bool = True
) -> Face:
    quality = Quality(
        face_px=size,
        sharpness=100.0,
        brightness=120.0,
        yaw_degrees=0.0,
        usable=usable,
        reasons=() if usable else ("blurred",),
    )
    return Face(
        Box(x, y, x + size, y + size),
        np.zeros((5, 2), dtype=np.float32),
        1.0,
        "test",
        quality,
        None if person is None else _unit(person),
    )


def test_overlapping_boxes_continue_a_track_and_it_ends_after_max_missed() -> None:
    tracker = Tracker(max_missed=2)
    first = tracker.update([_face(100, 100)], 0.0)
    assert len(first.born) == 1
    track = first.born[0]
    for step in range(1, 5):
        update = tracker.update([_face(100 + 10 * step, 100)], step * 0.2)
        assert update.born == () and update.active == (track,)
    assert track.hits == 5 and track.duration == pytest.approx(0.8)
    assert tracker.update([], 1.0).ended == ()
    assert tracker.update([], 1.2).ended == ()
    assert tracker.update([], 1.4).ended == (track,)
    assert tracker.tracks == ()


def test_a_jump_is_followed_by_appearance_and_strangers_get_their_own_track() -> None:
    tracker = Tracker()
    track = tracker.update([_face(100, 100, person=1)], 0.0).born[0]
    # Moved 150 px (no overlap) but the same face: the same track.
    update = tracker.update([_face(250, 100, person=1), _face(400, 300, person=2)], 0.5)
    assert track in update.active and len(update.born) == 1
    # Someone else where the first person was: a new track.
    update = tracker.update([_face(250, 100, person=3)], 1.0)
    assert len(update.born) == 1 and update.born[0] is not track


def test_the_best_face_is_the_largest_usable_one() -> None:
    tracker = Tracker()
    track = tracker.update([_face(100, 100, size=60)], 0.0).born[0]
    tracker.update([_face(100, 100, size=70, usable=False)], 0.2)
    assert track.best_score == 60
    tracker.update([_face(100, 100, size=75)], 0.4)
    assert track.best_score == 75
    assert face_score(_face(0, 0, person=None)) == 0.0
    assert tracker.end_all() == (track,)


def test_a_face_faster_than_its_width_per_frame_is_followed_by_its_motion() -> None:
    # Faces without embeddings (none computed): only boxes can link them. At 5
    # frames per second a walking face moves most of its width between frames.
    tracker = Tracker()
    track = tracker.update([_face(100, 100, person=None)], 0.0).born[0]
    tracker.update([_face(140, 100, person=None)], 0.2)  # IoU 0.33 with the last box
    assert track.velocity == pytest.approx((200.0, 0.0))
    moved = _face(220, 104, person=None)  # no overlap with the last box at all
    assert track.box.iou(moved.box) == 0.0
    assert tracker.overlapping(moved, 0.4) is track  # it is where its motion leads
    update = tracker.update([moved], 0.4)
    assert update.born == () and update.active == (track,) and track.hits == 3
    # Someone far off the path is no one's continuation.
    assert tracker.overlapping(_face(600, 400, person=None), 0.6) is None


def test_overlapping_knows_the_track_before_the_update_and_when_it_was_embedded() -> None:
    tracker = Tracker()
    track = tracker.update([_face(100, 100, person=None)], 0.0).born[0]
    assert track.embedded_at is None
    tracker.update([_face(104, 100, person=1)], 0.2)
    assert track.embedded_at == 0.2
    tracker.update([_face(108, 100, person=None)], 0.4)
    assert track.embedded_at == 0.2  # the latest detection that came with one
    assert tracker.overlapping(_face(110, 100), 0.6) is track
