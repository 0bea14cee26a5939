"""The tracker on real detections: faces walking at walking speed, crossing, hidden, replaced.

Real faces (face_recognition's example photos) are scaled to CCTV sizes and
moved across a textured backdrop at 5 frames a second; the real small-face
detector (as the camera path runs it) and the real embedder give the faces
the tracker is fed. At walking speed a face moves 1.5 to 2 of its widths
between two such frames, so consecutive boxes do not overlap, and a face
under 40 px carries no embedding: only its motion can link it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from facewarden import imaging
from facewarden.types import Face
from facewarden.vision.mtcnn_detect import MtcnnDetector
from facewarden.vision.pipeline import MODES, Pipeline
from facewarden.vision.track import Track, Tracker

STEP = 0.2  # seconds between processed frames (the camera path's 5 fps budget)
# face_crop's tile: 1.8x the face box's long side; the box is about 1.36x taller than wide.
TILE_PER_FACE = 1.8 * 1.36

Path2 = Callable[[float], tuple[float, float] | None]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    """The camera path's detector (stricter last stage, faces from 20 px) and the fast embedder."""
    detector = MtcnnDetector(min_face=20, thresholds=(0.6, 0.7, 0.8), name="mtcnn-video")
    return dataclasses.replace(MODES["fast"], detector=detector)


@pytest.fixture(scope="module")
def photos(faces_dir: Path) -> dict[str, np.ndarray]:
    train = faces_dir / "face_recognition" / "examples" / "knn_examples" / "train"
    return {
        "obama": imaging.decode(train / "obama" / "obama2.jpg"),
        "biden": imaging.decode(train / "biden" / "biden2.jpg"),
    }


def _tile(photo: np.ndarray, face_px: float) -> np.ndarray:
    """The photo's main face with margin, scaled so the face is ``face_px`` wide."""
    faces = MtcnnDetector().detect(photo)
    box = max(faces, key=lambda f: f.box.area).box
    cx, cy = box.center
    half = max(box.width, box.height) * 0.9
    h, w = photo.shape[:2]
    crop = photo[
        int(max(0, cy - half)) : int(min(h, cy + half)),
        int(max(0, cx - half)) : int(min(w, cx + half)),
    ]
    side = round(face_px * TILE_PER_FACE)
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


def _backdrop(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    base = np.linspace(70, 150, width, dtype=np.float32)[None, :, None]
    noise = rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    return np.clip(base + noise, 0, 255).astype(np.uint8).repeat(3, axis=2)


def _frame(
    backdrop: np.ndarray,
    walkers: list[tuple[np.ndarray, Path2]],
    t: float,
    hide: tuple[int, int] | None = None,
) -> np.ndarray:
    """Walkers drawn in order (the last in front) at their centre at ``t``; ``hide``: a pillar."""
    frame = backdrop.copy()
    height, width = frame.shape[:2]
    for tile, path in walkers:
        centre = path(t)
        if centre is None:
            continue
        side = tile.shape[0]
        x, y = round(centre[0] - side / 2), round(centre[1] - side / 2)
        x1, y1, x2, y2 = max(0, x), max(0, y), min(width, x + side), min(height, y + side)
        if x1 < x2 and y1 < y2:
            frame[y1:y2, x1:x2] = tile[y1 - y : y2 - y, x1 - x : x2 - x]
    if hide is not None:
        frame[:, hide[0] : hide[1]] = 90
    return frame


def _walk(x0: float, y: float, px_per_s: float, start: float = 0.0) -> Path2:
    def at(t: float) -> tuple[float, float] | None:
        return (x0 + px_per_s * (t - start), y) if t >= start else None

    return at


def _run(
    pipeline: Pipeline,
    tracker: Tracker,
    frames: list[np.ndarray],
    size: tuple[int, int],
) -> tuple[list[list[Face]], list[Track]]:
    """Every frame's faces (the usable ones embedded) through ``tracker``; all its tracks."""
    found, tracks = [], []
    for index, frame in enumerate(frames):
        faces = pipeline.run(frame, embed=lambda face: face.usable)
        update = tracker.update(faces, index * STEP, size)
        found.append(faces)
        tracks.extend(update.born)
    return found, tracks


def test_a_24px_face_at_walking_speed_keeps_one_track(
    pipeline: Pipeline, photos: dict[str, np.ndarray]
) -> None:
    # 1.4 m/s with a 16 cm face: 8.75 face widths a second, 1.75 between frames.
    size = (720, 160)
    walker = (_tile(photos["obama"], 24), _walk(30, 80, 24 * 8.75))
    frames = [_frame(_backdrop(*size), [walker], i * STEP) for i in range(14)]
    found, tracks = _run(pipeline, Tracker(), frames, size)
    detected = sum(1 for faces in found if faces)
    assert detected >= 11, f"the detector found the face in {detected} of 14 frames"
    assert all(not f.usable and f.embedding is None for faces in found for f in faces)
    consecutive = [(a[0].box, b[0].box) for a, b in itertools.pairwise(found) if a and b]
    assert consecutive and max(a.iou(b) for a, b in consecutive) == 0.0  # IoU links nothing
    assert len(tracks) == 1, f"{len(tracks)} tracks for one walker"
    assert tracks[0].hits == detected


def test_two_small_faces_crossing_keep_their_own_tracks(
    pipeline: Pipeline, photos: dict[str, np.ndarray]
) -> None:
    # Opposite ways on nearly the same line: their tiles overlap at the crossing
    # (the one drawn last hides the other).
    size = (720, 180)
    speed = 30 * 8.0
    paths = {"obama": _walk(40, 86, speed), "biden": _walk(680, 96, -speed)}
    walkers = [(_tile(photos[name], 30), path) for name, path in paths.items()]
    frames = [_frame(_backdrop(*size), walkers, i * STEP) for i in range(14)]
    tracker = Tracker()
    owners: dict[int, set[str]] = {}
    tracks = []
    for index, frame in enumerate(frames):
        t = index * STEP
        faces = pipeline.run(frame, embed=lambda face: face.usable)
        update = tracker.update(faces, t, size)
        tracks.extend(update.born)
        for track in update.active:
            if track.missed:
                continue
            cx, cy = track.box.center
            nearest = min(paths, key=lambda n: np.hypot(cx - paths[n](t)[0], cy - paths[n](t)[1]))  # type: ignore[index]
            owners.setdefault(track.track_id, set()).add(nearest)
    assert len(tracks) == 2, f"{len(tracks)} tracks for two walkers"
    assert sorted(owners.values(), key=sorted) == [{"biden"}, {"obama"}]  # no identity switch
    assert all(track.hits >= 10 for track in tracks)


def test_a_face_hidden_for_a_moment_is_found_again_where_it_went(
    pipeline: Pipeline, photos: dict[str, np.ndarray]
) -> None:
    # A 36 px face (too small to identify: no embedding) passes behind a pillar
    # for three frames; it comes out where its motion leads.
    size = (900, 160)
    walker = (_tile(photos["biden"], 36), _walk(40, 80, 36 * 7.5))
    frames = [_frame(_backdrop(*size), [walker], i * STEP, hide=(380, 520)) for i in range(16)]
    found, tracks = _run(pipeline, Tracker(), frames, size)
    hidden = [i for i, faces in enumerate(found) if not faces]
    assert len(hidden) >= 2 and max(hidden) < 15
    # A false face seen once is a track of one hit (the crowd counters take
    # tracks of fewer than two for noise): the walker is one track.
    walking = [t for t in tracks if t.hits >= 2]
    assert len(walking) == 1, f"{len(walking)} tracks for one walker"
    assert walking[0].first_seen == 0.0 and walking[0].last_seen == pytest.approx(15 * STEP)


def test_someone_else_coming_out_from_behind_the_pillar_is_a_new_track(
    pipeline: Pipeline, photos: dict[str, np.ndarray]
) -> None:
    # Faces large enough to embed: Obama walks behind the pillar and stays
    # there; Biden steps out where Obama would have. Motion alone would link
    # them; their faces do not.
    size = (900, 200)
    speed = 64 * 6.0
    obama = (_tile(photos["obama"], 64), lambda t: (60 + speed * t, 100.0) if t < 1.2 else None)
    biden = (_tile(photos["biden"], 64), lambda t: (60 + speed * t, 100.0) if t >= 1.8 else None)
    frames = [
        _frame(_backdrop(*size), [obama, biden], i * STEP, hide=(520, 680)) for i in range(11)
    ]
    found, tracks = _run(pipeline, Tracker(), frames, size)
    assert any(f.usable and f.embedding is not None for faces in found for f in faces)
    assert len(tracks) == 2
    first, second = sorted(tracks, key=lambda t: t.first_seen)
    assert first.last_seen < 1.2 <= second.first_seen


def test_a_face_leaving_the_frame_ends_its_track_and_a_newcomer_there_is_new(
    pipeline: Pipeline, photos: dict[str, np.ndarray]
) -> None:
    # One walks out through the right edge; another comes in there 0.4 s later,
    # the other way: where the first would have gone is outside the frame.
    size = (640, 200)
    speed = 30 * 8.0
    out = (_tile(photos["obama"], 30), lambda t: (420 + speed * t, 90.0) if t < 1.0 else None)
    back = (
        _tile(photos["biden"], 30),
        lambda t: (660 - speed * (t - 1.4), 110.0) if t >= 1.4 else None,
    )
    frames = [_frame(_backdrop(*size), [out, back], i * STEP) for i in range(14)]
    _found, tracks = _run(pipeline, Tracker(), frames, size)
    assert len(tracks) == 2, f"{len(tracks)} tracks for two walkers"
    first, second = sorted(tracks, key=lambda t: t.first_seen)
    assert first.last_seen < 1.0 and second.first_seen >= 1.4


def _stop_and_go(x0: float, y: float, px_per_s: float, stop: float, still: float) -> Path2:
    """Walks, slows to a stop at ``stop`` s, stands ``still`` s, then walks on.

    Slowing and starting each take half a second (about 2.5 m/s², a walker's
    usual), as people do: no one stops or starts dead.
    """
    ramp = 0.5

    def travelled(t: float) -> float:  # seconds of full-speed walking done by t
        if t < stop:
            return t
        if t < stop + ramp:
            u = t - stop
            return stop + u - u * u / (2 * ramp)
        go = stop + ramp + still
        if t < go:
            return stop + ramp / 2
        if t < go + ramp:
            u = t - go
            return stop + ramp / 2 + u * u / (2 * ramp)
        return stop + ramp + (t - go - ramp)

    return lambda t: (x0 + px_per_s * travelled(t), y)


@pytest.mark.parametrize("go", [0.0, 0.2])
def test_at_2_5_fps_a_small_face_that_stops_and_walks_on_keeps_one_track(
    pipeline: Pipeline, photos: dict[str, np.ndarray], go: float
) -> None:
    # At a 2.5 fps budget (0.4 s between frames) a 24 px face at 1.3 m/s moves
    # 3.3 widths between frames. Starting again from a stop, it gains speed
    # faster than the smoothed velocity follows: the tracker's gate must allow
    # for a walker's acceleration over 0.4 s, not only for a turn. ``go``: the
    # restart falls on a frame or between two.
    step = 0.4
    size = (900, 160)
    speed = 24 / 0.16 * 1.3
    walker = (_tile(photos["obama"], 24), _stop_and_go(30, 80, speed, 1.0, 1.5 + go))
    frames = [_frame(_backdrop(*size), [walker], i * step) for i in range(13)]
    found, tracks = [], []
    tracker = Tracker()
    for index, frame in enumerate(frames):
        faces = pipeline.run(frame, embed=False)
        tracks.extend(tracker.update(faces, index * step, size).born)
        found.append(faces)
    detected = sum(1 for faces in found if faces)
    assert detected >= 11, f"the detector found the face in {detected} of 13 frames"
    assert len(tracks) == 1, f"{len(tracks)} tracks for one walker: {[t.hits for t in tracks]}"
