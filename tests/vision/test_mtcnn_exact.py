"""MTCNN's shortcuts for speed give the same numbers as the plain way, on real photos.

Each shortcut (the pyramid resized from float pixels, landmarks fitted after all of a
chunk's boxes, R-Net and O-Net run in slices) was adopted because it changes no
detection; these tests hold it to that on the images it was measured on.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facewarden import imaging
from facewarden.vision import mtcnn_detect
from facewarden.vision.mtcnn_boxes import pnet_windows, suppressed_per_level
from facewarden.vision.mtcnn_detect import MtcnnDetector, _level
from facewarden.vision.nms import suppress


def _photos(faces_dir: Path, lfw_dir: Path) -> list[Path]:
    group = sorted((faces_dir / "dlib" / "examples" / "faces").glob("*.jpg"))
    return group + sorted((lfw_dir / "lfw").rglob("*.jpg"))[:20]


def test_pyramid_levels_match_the_uint8_resize_bit_for_bit(faces_dir: Path, lfw_dir: Path) -> None:
    detector = MtcnnDetector()
    checked = 0
    for path in _photos(faces_dir, lfw_dir):
        image = imaging.decode(path)
        pixels = image.astype(np.float32)
        height, width = image.shape[:2]
        # An odd size and a whole-number ratio (OpenCV's integer fast path) as well.
        sizes = [
            (max(12, round(width * s)), max(12, round(height * s)))
            for s in detector.scales(width, height)
        ]
        sizes += [(width // 2 + 1, height // 3 + 1), (width // 2, height // 2)]
        for size in sizes:
            plain = cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float32)
            fast = _level(image, pixels, size, cv2.INTER_AREA)
            np.testing.assert_array_equal(fast, plain, err_msg=f"{path.name} at {size}")
            checked += 1
    assert checked > 150


def test_detect_many_finds_what_detect_finds_on_each_image(faces_dir: Path, lfw_dir: Path) -> None:
    detector = MtcnnDetector()
    images = [imaging.decode(p) for p in _photos(faces_dir, lfw_dir)[:12]]
    together = detector.detect_many(images)
    assert sum(len(faces) for faces in together) >= 12
    for image, faces in zip(images, together, strict=True):
        alone = detector.detect(image)
        assert [(f.box, f.detector_score) for f in faces] == [
            (f.box, f.detector_score) for f in alone
        ]
        for f, a in zip(faces, alone, strict=True):
            np.testing.assert_array_equal(f.landmarks, a.landmarks)


@pytest.mark.parametrize(
    "slices", [{"rnet": 10**6, "onet": 10**6}, {"rnet": 32, "onet": 3}, {"rnet": 7, "onet": 1}]
)
def test_r_and_o_net_slices_change_no_box(
    faces_dir: Path, lfw_dir: Path, monkeypatch: pytest.MonkeyPatch, slices: dict[str, int]
) -> None:
    # A group photo (hundreds of R-Net candidates, so several slices of each size)
    # and LFW photos (about 42): the default slices against whole batches and others.
    images = [imaging.decode(faces_dir / "dlib" / "examples" / "faces" / "2008_007676.jpg")]
    images += [imaging.decode(p) for p in sorted((lfw_dir / "lfw").rglob("*.jpg"))[:6]]
    detector = MtcnnDetector()
    sliced = [detector.boxes(image) for image in images]
    monkeypatch.setattr(mtcnn_detect, "_SLICE", slices)
    other = [detector.boxes(image) for image in images]
    assert len(other[0][0]) >= 5 and all(len(boxes) for boxes, _ in other[1:])
    for (boxes, scores), (other_boxes, other_scores) in zip(sliced, other, strict=True):
        np.testing.assert_array_equal(boxes, other_boxes)
        np.testing.assert_array_equal(scores, other_scores)


def test_levels_suppressed_together_keep_what_one_call_per_level_keeps(
    faces_dir: Path, lfw_dir: Path
) -> None:
    # P-Net's windows of every pyramid level of real photos (a group photo's
    # levels hold more windows between them than one call takes), suppressed in batched
    # calls and one call per level: the same windows in the same order.
    detector = MtcnnDetector()
    runtime = detector._session("pnet")
    checked = 0
    for path in _photos(faces_dir, lfw_dir)[:12]:
        image = imaging.decode(path)
        height, width = image.shape[:2]
        levels = []
        for scale in detector.scales(width, height):
            size = (max(12, round(width * scale)), max(12, round(height * scale)))
            level = cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float32)
            probability, regression = detector._pnet(runtime, level)
            windows = pnet_windows(probability, regression, 0.6, scale)
            if len(windows):
                levels.append(windows)
        one_by_one = np.concatenate([w[suppress(w[:, :4], w[:, 4], iou=0.5)] for w in levels])
        np.testing.assert_array_equal(suppressed_per_level(levels, iou=0.5), one_by_one)
        checked += len(levels)
    assert checked > 60
