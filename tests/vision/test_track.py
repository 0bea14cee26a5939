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
    assert tracker.candidates(moved, 0.4) == [track]  # it is where its motion leads
    update = tracker.update([moved], 0.4)
    assert update.born == () and update.active == (track,) and track.hits == 3
    # Someone far off the path is no one's continuation.
    assert tracker.candidates(_face(600, 400, person=None), 0.6) == []


def test_candidates_knows_the_track_before_the_update_and_when_it_was_embedded() -> None:
    tracker = Tracker()
    track = tracker.update([_face(100, 100, person=None)], 0.0).born[0]
    assert track.embedded_at is None
    tracker.update([_face(104, 100, person=1)], 0.2)
    assert track.embedded_at == 0.2
    tracker.update([_face(108, 100, person=None)], 0.4)
    assert track.embedded_at == 0.2  # the latest detection that came with one
    assert tracker.candidates(_face(110, 100), 0.6) == [track]


def test_faces_of_very_different_sizes_are_never_one_track() -> None:
    # A 24 px face far away and a 96 px face near the camera, one frame apart
    # at the same spot: not one person who grew fourfold in 0.2 s.
    tracker = Tracker()
    far = tracker.update([_face(300, 100, size=24, person=None)], 0.0).born[0]
    update = tracker.update([_face(290, 90, size=96, person=None)], 0.2)
    assert len(update.born) == 1 and far.hits == 1
    assert tracker.candidates(_face(300, 100, size=30, person=None), 0.4)[0] is far


def test_a_track_lives_by_time_not_frames_and_coasts_on_its_motion() -> None:
    # Frames 0.04 s apart (25 fps): a face hidden for 30 frames (1.2 s) is still
    # followed, found again where its motion leads; past max_gap it ends.
    tracker = Tracker(max_gap=2.0)
    track = tracker.update([_face(100, 100, size=30, person=None)], 0.0).born[0]
    tracker.update([_face(110, 100, size=30, person=None)], 0.04)  # 250 px/s
    assert track.velocity == pytest.approx((250.0, 0.0))
    for step in range(2, 32):
        assert tracker.update([], step * 0.04).ended == ()
    update = tracker.update([_face(110 + 250 * 1.24, 104, size=30, person=None)], 1.28)
    assert update.born == () and track.hits == 3 and track.missed == 0
    assert tracker.update([], 3.0).ended == ()
    assert tracker.update([], 3.3).ended == (track,)


def test_a_track_whose_path_left_the_frame_ends_when_it_is_missed() -> None:
    tracker = Tracker()
    track = tracker.update([_face(560, 100, size=40, person=None)], 0.0).born[0]
    tracker.update([_face(600, 100, size=40, person=None)], 0.2)  # 200 px/s to the right
    # Not detected: inside a 640 px frame it would still be there (it lives) ...
    assert tracker.update([], 0.4, (800, 480)).ended == ()
    # ... but where it went is beyond the edge of this one: it walked out.
    assert tracker.update([], 0.6, (640, 480)).ended == (track,)
    # Someone entering there now is someone new.
    assert tracker.update([_face(610, 100, size=40, person=None)], 0.8, (640, 480)).born


def test_two_tracks_near_a_face_are_both_candidates_likeliest_first() -> None:
    # People crossing: the face may continue either; the caller then embeds it.
    tracker = Tracker()
    left = tracker.update([_face(100, 100, size=40, person=None)], 0.0).born[0]
    right = tracker.update([_face(180, 100, size=40, person=None)], 0.0).born[0]
    assert tracker.candidates(_face(120, 100, size=40, person=None), 0.2) == [left, right]
    assert tracker.candidates(_face(170, 100, size=40, person=None), 0.2) == [right, left]


def test_someone_else_at_the_predicted_place_is_vetoed_by_their_face() -> None:
    tracker = Tracker()
    track = tracker.update([_face(100, 100, person=1)], 0.0).born[0]
    tracker.update([_face(160, 100, person=1)], 0.2)
    # Another person exactly where the track should be: a new track.
    stranger = _face(220, 100, person=2)
    assert track.similarity(stranger) < tracker.links.veto_similarity
    update = tracker.update([stranger], 0.4)
    assert len(update.born) == 1 and track.missed == 1


def test_tracks_per_camera_are_bounded_the_longest_missed_end_first() -> None:
    tracker = Tracker(max_tracks=3)
    first = tracker.update([_face(100 * i, 0, size=20, person=None) for i in range(3)], 0.0)
    assert len(first.born) == 3
    # Two faces elsewhere, one old face seen again: two old tracks make room.
    update = tracker.update(
        [_face(0, 0, size=20, person=None)]
        + [_face(100 * i, 400, size=20, person=None) for i in range(2)],
        0.2,
    )
    assert len(update.ended) == 2 and len(update.born) == 2 and len(tracker.tracks) == 3
    assert update.active[0] is first.born[0]  # the one seen again lives
    # More faces than room: the extra faces get no track.
    crowd = [_face(50 * i, 800, size=20, person=None) for i in range(6)]
    assert len(tracker.update(crowd, 0.4).active) == 3


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"max_missed": -1}, "max_missed"),
        ({"max_gap": 0}, "max_gap"),
        ({"max_growth": 0.5}, "max_growth"),
        ({"max_tracks": 0}, "max_tracks"),
    ],
)
def test_bad_settings_are_refused(options: dict[str, float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Tracker(**options)  # type: ignore[arg-type]


def test_missing_says_where_the_faces_of_tracks_missed_should_be_now() -> None:
    tracker = Tracker()
    track = tracker.update([_face(100, 100, size=40, person=None)], 0.0).born[0]
    tracker.update([_face(160, 100, size=40, person=None)], 0.2)  # 300 px/s
    assert tracker.missing(0.4) == []  # detected in the last frame: the detector follows it
    tracker.update([], 0.4)
    ((box, reach),) = tracker.missing(0.6)
    assert box.as_tuple() == pytest.approx((280, 100, 320, 140))  # 0.4 s on at 300 px/s
    assert 0.75 < reach < 0.75 + 12 * 0.4
    assert track.missed == 1
    assert tracker.missing(1.5, within=1.0) == []  # lost too long: left to the keyframes


def test_a_moving_tracks_prediction_beats_the_wide_reach_of_a_track_seen_once() -> None:
    # A walker followed for two frames, and a face seen once nearby (someone
    # standing, or a false face): the walker's next face, a little off its
    # prediction, is nearer the new track as a share of that track's wide gate,
    # yet far likelier where the walker's motion put it.
    tracker = Tracker()
    walker = tracker.update([_face(100, 100, size=40, person=None)], 0.0).born[0]
    both = [_face(140, 100, size=40, person=None), _face(230, 160, size=40, person=None)]
    (other,) = tracker.update(both, 0.2).born  # the walker at 200 px/s, someone new
    # 0.7 widths off the walker's prediction (its gate: 1.65), 1.25 from the
    # other's last place (its gate: 3.15, as far as anyone walks in 0.2 s).
    face = _face(200, 120, size=40, person=None)
    assert tracker.candidates(face, 0.4) == [walker, other]
    tracker.update([face], 0.4)
    assert walker.hits == 3 and other.missed == 1


def test_a_face_is_contested_only_between_tracks_moving_apart() -> None:
    # Two walkers about to cross (opposite ways), and two neighbours walking
    # side by side: a face between the crossing pair needs its embedding to
    # tell who it is; one between the neighbours is theirs by position.
    tracker = Tracker()
    tracker.update([_face(0, 0, size=40, person=1), _face(220, 10, size=40, person=2)], 0.0)
    # Seen once, no motion yet: two faces near both are told apart by their faces.
    assert tracker.contested(_face(110, 5, size=40, person=None), 0.2)
    assert not tracker.contested(_face(60, 0, size=40, person=None), 0.2)  # only one near
    tracker.update([_face(60, 0, size=40, person=1), _face(160, 10, size=40, person=2)], 0.2)
    crossing = _face(115, 5, size=40, person=None)  # where both should be now
    assert len(tracker.candidates(crossing, 0.4)) == 2
    assert tracker.contested(crossing, 0.4)
    side_by_side = Tracker()
    side_by_side.update([_face(0, 0, size=40, person=1), _face(45, 0, size=40, person=2)], 0.0)
    # Their faces link them (a neighbour's new place is nearer the other's old one).
    side_by_side.update([_face(60, 0, size=40, person=1), _face(105, 0, size=40, person=2)], 0.2)
    assert [t.box.x_min for t in side_by_side.tracks] == [60, 105]
    between = _face(142, 0, size=40, person=None)
    assert len(side_by_side.candidates(between, 0.4)) == 2
    assert not side_by_side.contested(between, 0.4)
