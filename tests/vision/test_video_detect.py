"""Keyframes and regions: the faces of a camera's frames at a fraction of the cost."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facewarden import imaging
from facewarden.errors import ConfigError
from facewarden.vision.mtcnn_detect import MtcnnDetector
from facewarden.vision.video_detect import KeyframeDetector


def _boxes(faces: list) -> np.ndarray:  # type: ignore[type-arg]
    return np.array(sorted(f.box.as_tuple() for f in faces))


def test_regions_between_keyframes_find_the_same_faces(faces_dir: Path) -> None:
    frame = imaging.decode(faces_dir / "dlib" / "examples" / "faces" / "2008_002470.jpg")
    detector = KeyframeDetector(MtcnnDetector(), every=3)
    key = detector.detect(frame)
    between = detector.detect(frame)  # a region per face, not the whole frame
    assert len(key) >= 5
    assert len(between) == len(key)
    np.testing.assert_allclose(_boxes(between), _boxes(key), atol=4.0)


def test_a_face_entering_the_view_is_found_at_the_next_keyframe(faces_dir: Path) -> None:
    frame = imaging.decode(faces_dir / "dlib" / "examples" / "faces" / "2008_002470.jpg")
    empty = np.full_like(frame, 127)
    detector = KeyframeDetector(MtcnnDetector(), every=2)
    assert detector.detect(empty) == []  # keyframe
    # No faces to follow: nothing is searched until the next keyframe, so a frame
    # never costs more than a keyframe whatever the scene.
    assert detector.detect(frame) == []
    assert len(detector.detect(frame)) >= 5  # keyframe
    detector.reset()  # frames far apart: the next one is searched whole
    assert len(detector.detect(frame)) >= 5
    half = frame.copy()
    half[:, frame.shape[1] // 2 :] = 127
    detector = KeyframeDetector(MtcnnDetector(), every=2)
    left = len(detector.detect(half))  # keyframe: the left half's faces
    assert 0 < left < len(detector.detect(frame))  # regions: only those faces are followed
    assert len(detector.detect(frame)) > left  # the next keyframe finds the others


@pytest.mark.parametrize(
    ("options", "problem"), [({"every": 0}, "every"), ({"margin": 9}, "margin")]
)
def test_bad_settings_are_config_errors(options: dict[str, float], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        KeyframeDetector(**options)  # type: ignore[arg-type]


def test_in_a_crowd_the_regions_give_way_to_the_whole_frame(faces_dir: Path) -> None:
    # 2008_002470's faces fill much of a small frame: their regions, scaled to
    # 48 px faces, would cost P-Net more than the whole frame searched at once.
    frame = imaging.decode(faces_dir / "dlib" / "examples" / "faces" / "2008_002470.jpg")
    small = np.ascontiguousarray(frame[::2, ::2])
    detector = KeyframeDetector(MtcnnDetector(), every=3)
    key = detector.detect(small)
    assert len(key) >= 3
    calls: list[tuple[int, ...]] = []
    inner = detector.detector

    class _Seeing:
        """The detector, noting the shape of each image it searches."""

        min_face = inner.min_face

        def boxes(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
            calls.append(image.shape)
            return inner.boxes(image)

    detector.detector = _Seeing()  # type: ignore[assignment]
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
        detector = KeyframeDetector(MtcnnDetector(), every=4)
        key = detector.detect(frame)  # keyframe
        hidden = max(key, key=lambda f: f.box.area).box
        covered = frame.copy()
        covered[int(hidden.y_min) : int(hidden.y_max), int(hidden.x_min) : int(hidden.x_max)] = 127
        assert len(detector.detect(covered)) == len(key) - 1  # passing behind someone
        if told:
            detector.expect([(hidden.as_tuple(), 0.75)])
        again = detector.detect(frame)
        results.append(any(f.box.iou(hidden) > 0.5 for f in again))
        assert len(again) == len(key) - 1 + results[-1]
    assert results == [False, True]
