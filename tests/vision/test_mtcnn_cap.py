"""The small-face detector's work per image is bounded: a photo over 4 MP is searched scaled down.

An 8000x5000 photo (the upload limit's 40 MP) cost about 5 s of CPU in P-Net
on a 4096 px pyramid level; any operator could keep the image threads busy
with a few. The photos are real ones (dlib's group photos), enlarged or laid
out on a large canvas; what is counted is the pixels P-Net is given, never
the time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from facewarden import imaging
from facewarden.types import Box
from facewarden.vision import mtcnn_detect
from facewarden.vision.detect import DETECTORS
from facewarden.vision.mtcnn_detect import DEFAULT_MAX_LEVEL_PIXELS, MtcnnDetector

from ._boxes import annotated_boxes, match_boxes

GROUP = ("testing.xml", "2008_002470.jpg")  # 500x332, 8 annotated faces of 37 to 45 px


def _group(faces_dir: Path) -> tuple[np.ndarray, list[Box]]:  # type: ignore[type-arg]
    folder = faces_dir / "dlib" / "examples" / "faces"
    return imaging.decode(folder / GROUP[1]), annotated_boxes(folder / GROUP[0], GROUP[1])


def _preset() -> MtcnnDetector:
    preset = DETECTORS["mtcnn"]
    assert isinstance(preset, MtcnnDetector)
    return preset


class _PnetPixels:
    """The real ONNX runner, counting the pixels of every image batch given to P-Net."""

    def __init__(self) -> None:
        self.pixels = 0
        self._run = mtcnn_detect.run

    def __call__(self, runtime: Any, feeds: dict[str, Any], *, what: str) -> list[Any]:
        if what == "MTCNN P-Net":
            batch = feeds["image"]
            self.pixels += batch.shape[0] * batch.shape[1] * batch.shape[2]
        return self._run(runtime, feeds, what=what)


@pytest.fixture
def pnet_pixels(monkeypatch: pytest.MonkeyPatch) -> _PnetPixels:
    counter = _PnetPixels()
    monkeypatch.setattr(mtcnn_detect, "run", counter)
    return counter


@pytest.mark.parametrize(
    ("size", "smallest"),
    [
        ((250, 250), 20.0),  # LFW
        ((1024, 1625), 20.0),  # the largest wider-dev photo
        ((1986, 1545), 20.0),  # dlib's bald_guys.jpg, its largest
        ((1434, 2333), 20.0),  # face_recognition's obama3.jpg, 3.3 MP
        ((4000, 3000), 34.64),  # a 12 MP phone photo
        ((8000, 5000), 63.25),  # 40 MP, the upload limit
    ],
)
def test_the_smallest_face_grows_only_above_4_mp(size: tuple[int, int], smallest: float) -> None:
    detector = _preset()
    assert detector.smallest_face(*size) == pytest.approx(smallest, abs=0.05)
    work = detector.work_size(*size)
    first_level = work[0] * work[1] * (12 / detector.min_face) ** 2
    assert first_level <= DEFAULT_MAX_LEVEL_PIXELS
    if smallest == 20.0:
        assert work == size


def test_a_40_mp_photo_gives_p_net_what_its_4_mp_copy_does_and_its_faces_are_found(
    faces_dir: Path, pnet_pixels: _PnetPixels
) -> None:
    # The group photo enlarged 10x (faces of 370 to 450 px) in the middle of an
    # 8000x5000 canvas of its own edge pixels: a large, valid photo.
    photo, truth = _group(faces_dir)
    enlarged = cv2.resize(photo, (5000, 3320), interpolation=cv2.INTER_CUBIC)
    canvas = cv2.copyMakeBorder(enlarged, 840, 840, 1500, 1500, cv2.BORDER_REPLICATE)
    assert canvas.shape == (5000, 8000, 3)
    truth = [
        Box(b.x_min * 10 + 1500, b.y_min * 10 + 840, b.x_max * 10 + 1500, b.y_max * 10 + 840)
        for b in truth
    ]
    detector = _preset()

    faces = detector.detect(canvas)
    searched = pnet_pixels.pixels
    hits, false_positives = match_boxes([f.box for f in faces], truth)
    assert hits >= len(truth) - 1, f"found {hits} of {len(truth)}"
    assert false_positives <= 1

    pnet_pixels.pixels = 0
    work = detector.work_size(8000, 5000)
    detector.boxes(cv2.resize(canvas, work, interpolation=cv2.INTER_AREA))
    assert searched == pnet_pixels.pixels
    # The whole pyramid: its first level (1.44 M pixels) / (1 - 0.709^2), 2.9 M
    # with the tiles' overlaps; uncapped, its first level alone was 4096x2560.
    assert searched < 3_000_000
    uncapped = MtcnnDetector(max_level_pixels=10**9)
    assert sum(8000 * 5000 * s * s for s in uncapped.scales(8000, 5000)) > 20_000_000


def test_a_12_mp_group_photo_still_gives_faces_of_37_px(
    faces_dir: Path, pnet_pixels: _PnetPixels
) -> None:
    # A phone photo's size, with the group photo at its own resolution in it:
    # its faces (37 to 45 px) are above the 35 px a 12 MP photo is searched from.
    photo, truth = _group(faces_dir)
    canvas = np.full((3000, 4000, 3), 127, np.uint8)
    canvas[1300:1632, 1700:2200] = photo
    truth = [Box(b.x_min + 1700, b.y_min + 1300, b.x_max + 1700, b.y_max + 1300) for b in truth]
    detector = _preset()
    assert detector.work_size(4000, 3000) < (4000, 3000)

    faces = detector.detect(canvas)
    hits, false_positives = match_boxes([f.box for f in faces], truth)
    assert hits >= len(truth) - 1, f"found {hits} of {len(truth)}"
    assert false_positives <= 1
    assert min(f.box.width for f in faces) < 45
    # The pyramid of a 4 MP photo, 2.9 M pixels (uncapped, 8.6 M); its first level,
    # 1385x1039, runs as four tiles of 698x526, not four of 1024x1024 (4.2 M alone).
    assert pnet_pixels.pixels < 3_000_000
    for face in faces:  # landmarks fitted on the photo itself, inside each box
        box = face.box
        assert all(box.x_min - 5 <= x <= box.x_max + 5 for x, _ in face.landmarks)


def test_photos_under_the_cap_are_searched_as_before(faces_dir: Path) -> None:
    # dlib's largest example (1986x1545, 3.1 MP): the same boxes with the cap as
    # without it, to the bit.
    image = imaging.decode(faces_dir / "dlib" / "examples" / "faces" / "bald_guys.jpg")
    capped, capped_scores = _preset().boxes(image)
    uncapped_detector = MtcnnDetector(
        thresholds=(0.7, 0.7, 0.7), reuse_levels=True, max_level_pixels=10**9
    )
    uncapped, uncapped_scores = uncapped_detector.boxes(image)
    assert len(capped) >= 5
    np.testing.assert_array_equal(capped, uncapped)
    np.testing.assert_array_equal(capped_scores, uncapped_scores)


def test_max_face_is_kept_in_the_photos_pixels_above_the_cap(faces_dir: Path) -> None:
    # Searching only for faces up to 100 px of the 40 MP photo: its 400 px faces
    # are not found (max_face is scaled with the photo, not left at 100 work pixels).
    photo, _ = _group(faces_dir)
    enlarged = cv2.resize(photo, (5000, 3320), interpolation=cv2.INTER_CUBIC)
    canvas = cv2.copyMakeBorder(enlarged, 840, 840, 1500, 1500, cv2.BORDER_REPLICATE)
    detector = MtcnnDetector(min_face=20, max_face=100)
    assert detector.smallest_face(8000, 5000) > 60
    assert all(f.box.width < 200 for f in detector.detect(canvas))


@pytest.mark.parametrize(
    ("length", "tile", "side"),
    [
        (1000, 1024, 1000),  # no tiling
        (1025, 1024, 518),  # two tiles of half the level, not two of 1024
        (1385, 1024, 698),
        (2529, 1024, 850),  # three
        (161, 160, 86),
    ],
)
def test_levels_over_the_tile_are_split_into_equal_tiles(length: int, tile: int, side: int) -> None:
    assert mtcnn_detect._tile_side(length, tile) == side
    if length > tile:
        # Even (whole strides), and as many tiles as 1024 px ones would take,
        # overlapping by 10 px (a window less a stride), cover the level.
        count = -(-(length - 10) // (tile - 10))
        assert side <= tile and side % 2 == 0
        assert count * (side - 10) + 10 >= length
