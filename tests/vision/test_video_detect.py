"""Keyframes, regions and edges: the faces of a camera's frames at a fraction of the cost."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cameras._video import SearchRecorder
from facewarden import imaging
from facewarden.errors import ConfigError
from facewarden.vision.mtcnn_detect import MtcnnDetector
from facewarden.vision.video_detect import KeyframeDetector


def _boxes(faces: list) -> np.ndarray:  # type: ignore[type-arg]
    return np.array(sorted(f.box.as_tuple() for f in faces))


def test_regions_between_keyframes_find_the_same_faces(faces_dir: Path) -> None:
    frame = imaging.decode(faces_dir / "dlib" / "examples" / "faces" / "2008_002470.jpg")
    detector = KeyframeDetector(MtcnnDetector())
    detector.frame_time(0.0)
    key = detector.detect(frame)
    detector.frame_time(0.2)
    between = detector.detect(frame)  # a region per face and the edges, not the whole frame
    assert len(key) >= 5
    assert len(between) == len(key)
    np.testing.assert_allclose(_boxes(between), _boxes(key), atol=4.0)


def background(width: int, height: int) -> np.ndarray:  # type: ignore[type-arg]
    """A textured backdrop with no faces (a street's wall, noise and a gradient)."""
    rng = np.random.default_rng(3)
    base = np.linspace(70, 150, width, dtype=np.float32)[None, :, None]
    noise = rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    return np.clip(base + noise, 0, 255).astype(np.uint8).repeat(3, axis=2)


@pytest.mark.parametrize(
    ("step", "keyframes"),
    [
        # 5 fps: every third frame, as a frame count of 3 gave.
        (0.2, [0.0, 0.6, 1.2, 1.8]),
        # 2.5 fps: waiting a frame would leave 0.8 s between keyframes.
        (0.4, [0.0, 0.4, 0.8, 1.2, 1.6, 2.0]),
        # 10 fps: every sixth frame, not every third.
        (0.1, [0.0, 0.6, 1.2, 1.8]),
    ],
)
def test_keyframes_are_due_by_video_time_whatever_the_frame_rate(
    step: float, keyframes: list[float]
) -> None:
    frame = background(640, 360)
    detector = KeyframeDetector(SearchRecorder(min_face=24), interval=0.6)
    whole = []
    for index in range(round(2.4 / step)):
        detector.frame_time(index * step)
        before = len(detector.detector.seen)
        detector.detect(frame)
        if frame.shape in detector.detector.seen[before:]:
            whole.append(round(index * step, 3))
    assert whole == keyframes
    # A frame whose time is unknown is searched whole: its distance from the
    # last keyframe could be anything.
    before = len(detector.detector.seen)
    detector.detect(frame)
    assert detector.detector.seen[before:] == [frame.shape]


def _tile(photo: np.ndarray, face_px: int) -> np.ndarray:
    """The photo's main face with margin, scaled so the face is about ``face_px`` wide."""
    box = max(MtcnnDetector().detect(photo), key=lambda f: f.box.area).box
    cx, cy = box.center
    half = max(box.width, box.height) * 0.9
    crop = photo[
        int(max(0, cy - half)) : int(cy + half),
        int(max(0, cx - half)) : int(cx + half),
    ]
    side = round(face_px * 1.8 * 1.36)  # the crop is 1.8 box heights; a box is 1.36x taller
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


def test_a_face_walking_in_through_a_side_is_found_before_the_next_keyframe(
    faces_dir: Path,
) -> None:
    train = faces_dir / "face_recognition" / "examples" / "knn_examples" / "train"
    obama = imaging.decode(train / "obama" / "obama2.jpg")
    biden = imaging.decode(train / "biden" / "biden2.jpg")
    backdrop = background(1280, 720)
    detector = KeyframeDetector(MtcnnDetector(min_face=24, thresholds=(0.6, 0.7, 0.8)))
    detector.frame_time(0.0)
    assert detector.detect(backdrop) == []  # a keyframe: nobody in view
    # 0.2 s later: a 32 px face wholly in at the left edge, a 90 px face at the
    # right (another octave of sizes), and someone who appeared mid-view (out
    # of a doorway): the edges are searched, the middle waits for a keyframe.
    frame = backdrop.copy()
    small, large, middle = _tile(obama, 32), _tile(biden, 90), _tile(obama, 40)
    frame[300 : 300 + len(small), 10 : 10 + len(small)] = small
    frame[200 : 200 + len(large), 1270 - len(large) : 1270] = large
    frame[330 : 330 + len(middle), 620 : 620 + len(middle)] = middle
    detector.frame_time(0.2)
    entered = detector.detect(frame)
    centres = sorted(round(f.box.center[0], -2) for f in entered)
    assert len(entered) == 2, centres
    assert min(f.box.center[0] for f in entered) < 100
    assert max(f.box.center[0] for f in entered) > 1100
    detector.frame_time(0.4)
    assert len(detector.detect(frame)) == 2  # followed now; the middle still waits
    detector.frame_time(0.6)
    assert len(detector.detect(frame)) == 3  # the keyframe finds the one in the middle


def test_without_the_edges_someone_walking_in_waits_for_the_keyframe(faces_dir: Path) -> None:
    train = faces_dir / "face_recognition" / "examples" / "knn_examples" / "train"
    tile = _tile(imaging.decode(train / "obama" / "obama2.jpg"), 40)
    backdrop = background(1280, 720)
    frame = backdrop.copy()
    frame[300 : 300 + len(tile), 10 : 10 + len(tile)] = tile
    detector = KeyframeDetector(MtcnnDetector(min_face=24), edges=False)
    detector.frame_time(0.0)
    assert detector.detect(backdrop) == []
    detector.frame_time(0.2)
    assert detector.detect(frame) == []  # no faces to follow: nothing searched
    detector.frame_time(0.4)
    assert detector.detect(frame) == []
    detector.frame_time(0.6)
    assert len(detector.detect(frame)) == 1


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"interval": -1}, "interval"),
        ({"max_speed": 0}, "max_speed"),
        ({"max_turn": 99}, "max_turn"),
    ],
)
def test_bad_settings_are_config_errors(options: dict[str, float], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        KeyframeDetector(**options)  # type: ignore[arg-type]


def test_in_a_crowd_the_regions_give_way_to_the_whole_frame(faces_dir: Path) -> None:
    # 2008_002470's faces fill much of a small frame: their regions, scaled to
    # 48 px faces, would cost P-Net more than the whole frame searched at once.
    frame = imaging.decode(faces_dir / "dlib" / "examples" / "faces" / "2008_002470.jpg")
    small = np.ascontiguousarray(frame[::2, ::2])
    detector = KeyframeDetector(MtcnnDetector())
    detector.frame_time(0.0)
    key = detector.detect(small)
    assert len(key) >= 3
    calls: list[tuple[int, ...]] = []
    inner = detector.detector

    class _Seeing:
        """The detector, noting the shape of each image it searches."""

        min_face = inner.min_face

        def smallest_face(self, width: int, height: int) -> float:
            return inner.smallest_face(width, height)

        def boxes(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
            calls.append(image.shape)
            return inner.boxes(image)

    detector.detector = _Seeing()  # type: ignore[assignment]
    detector.frame_time(0.2)
    between = detector.detect(small)
    assert calls == [small.shape]  # the frame itself, not a mosaic
    np.testing.assert_allclose(_boxes(between), _boxes(key), atol=1.0)


def test_pyramid_levels_made_from_larger_levels_find_the_same_faces(faces_dir: Path) -> None:
    # The camera path's detector resizes each pyramid level from a larger level,
    # not from the frame (the frame's resizes cost more than P-Net at 1080p).
    photo = imaging.decode(faces_dir / "dlib" / "examples" / "faces" / "2008_002470.jpg")
    frame = cv2.resize(photo, (1920, 1275), interpolation=cv2.INTER_LINEAR)
    exact, _ = MtcnnDetector(min_face=24).boxes(frame)
    reused, _ = MtcnnDetector(min_face=24, reuse_levels=True).boxes(frame)
    assert len(exact) >= 5
    assert len(reused) == len(exact)
    np.testing.assert_allclose(_boxes_xyxy(reused), _boxes_xyxy(exact), atol=3.0)


def _boxes_xyxy(boxes: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    return np.array(sorted(map(tuple, boxes.tolist())))


def test_a_face_missed_once_is_looked_for_where_it_is_expected(faces_dir: Path) -> None:
    # A face hidden in one frame is not among the last frame's faces: the frames
    # between keyframes would not look for it again until the next keyframe,
    # unless told where it should be (the camera path's tracker knows).
    frame = imaging.decode(faces_dir / "dlib" / "examples" / "faces" / "2008_002470.jpg")
    results = []
    for told in (False, True):
        # Edges off: this face is near one, and they would find it again untold.
        detector = KeyframeDetector(MtcnnDetector(), interval=1.0, edges=False)
        detector.frame_time(0.0)
        key = detector.detect(frame)  # keyframe
        hidden = max(key, key=lambda f: f.box.area).box
        covered = frame.copy()
        covered[int(hidden.y_min) : int(hidden.y_max), int(hidden.x_min) : int(hidden.x_max)] = 127
        detector.frame_time(0.2)
        assert len(detector.detect(covered)) == len(key) - 1  # passing behind someone
        if told:
            detector.expect([(hidden.as_tuple(), 0.75)])
        detector.frame_time(0.4)
        again = detector.detect(frame)
        results.append(any(f.box.iou(hidden) > 0.5 for f in again))
        assert len(again) == len(key) - 1 + results[-1]
    assert results == [False, True]


@pytest.mark.parametrize("size", [(60, 48), (13, 13), (104, 11)])
def test_frames_too_small_for_edge_strips_are_still_searched(size: tuple[int, int]) -> None:
    # A pushed thumbnail: narrower than two strips and the black between them.
    frame = background(*size)
    detector = KeyframeDetector(MtcnnDetector(min_face=20))
    for t in (0.0, 0.2, 0.4):
        detector.frame_time(t)
        assert detector.detect(frame) == []
