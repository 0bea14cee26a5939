"""The small-face detector on real photos scaled down until their faces are small."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facewarden import imaging
from facewarden.errors import ConfigError
from facewarden.types import Box
from facewarden.vision.detect import DETECTORS, HogDetector
from facewarden.vision.mtcnn_detect import MtcnnDetector

from ._boxes import annotated_boxes, match_boxes

GROUP_PHOTOS = [
    ("training.xml", "2007_007763.jpg"),
    ("testing.xml", "2008_002470.jpg"),
    ("testing.xml", "2008_004176.jpg"),
]


def _scaled(image: np.ndarray, factor: float) -> np.ndarray:
    size = (round(image.shape[1] * factor), round(image.shape[0] * factor))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def _group_photo(faces_dir: Path, index: int, factor: float) -> tuple[np.ndarray, list[Box]]:
    xml_name, image_name = GROUP_PHOTOS[index]
    folder = faces_dir / "dlib" / "examples" / "faces"
    truth = [b.scaled(factor) for b in annotated_boxes(folder / xml_name, image_name)]
    return _scaled(imaging.decode(folder / image_name), factor), truth


@pytest.mark.parametrize("preset", [False, True], ids=["paper", "preset"])
@pytest.mark.parametrize("index", [0, 1, 2])
def test_finds_faces_of_24_to_60_px_that_hog_misses(
    faces_dir: Path, index: int, preset: bool
) -> None:
    # dlib's group photos at 60%: their annotated faces become 22 to 65 px wide.
    # Both the paper's settings and the faster preset every mode uses.
    image, truth = _group_photo(faces_dir, index, 0.6)
    assert min(b.width for b in truth) < 30
    faces = (DETECTORS["mtcnn"] if preset else MtcnnDetector()).detect(image)
    hits, false_positives = match_boxes([f.box for f in faces], truth)
    hog_hits, _ = match_boxes([f.box for f in HogDetector(upsample=1).detect(image)], truth)
    assert hits >= len(truth) - 1, f"found {hits} of {len(truth)}"
    assert false_positives <= 1
    assert hits > hog_hits  # face_recognition's detector, on the same pixels


def test_every_face_has_dlib_landmarks_inside_its_box(faces_dir: Path) -> None:
    image, _ = _group_photo(faces_dir, 1, 0.6)
    faces = MtcnnDetector().detect(image)
    assert faces
    for face in faces:
        box = face.box
        margin = box.width * 0.25
        xs, ys = face.landmarks[:, 0], face.landmarks[:, 1]
        assert (xs > box.x_min - margin).all() and (xs < box.x_max + margin).all()
        assert (ys > box.y_min - margin).all() and (ys < box.y_max + margin).all()
        assert face.detector == "mtcnn" and 0 < face.detector_score <= 1
    assert [f.detector_score for f in faces] == sorted(
        (f.detector_score for f in faces), reverse=True
    )


def test_tiled_pyramid_levels_give_the_same_faces(faces_dir: Path) -> None:
    image, _ = _group_photo(faces_dir, 0, 1.0)
    whole, whole_scores = MtcnnDetector().boxes(image)
    tiled, tiled_scores = MtcnnDetector(tile=160).boxes(image)
    assert len(whole) > 3
    np.testing.assert_allclose(tiled, whole, atol=0.05)
    np.testing.assert_allclose(tiled_scores, whole_scores, atol=1e-4)


def test_min_face_sets_the_first_pyramid_level() -> None:
    assert MtcnnDetector(min_face=20).scales(1920, 1080)[0] == pytest.approx(0.6)
    assert MtcnnDetector(min_face=40).scales(1920, 1080)[0] == pytest.approx(0.3)
    # The pyramid ends where the short side would fall below P-Net's 12 px window.
    assert 1080 * MtcnnDetector().scales(1920, 1080)[-1] >= 12
    # ...or at the level that scales the largest face wanted to the window.
    bounded = MtcnnDetector(min_face=20, max_face=40).scales(1920, 1080)
    assert bounded[-1] * 40 <= 12 < bounded[-2] * 40


def test_the_preset_sends_r_net_fewer_windows_and_finds_the_same_faces(lfw_dir: Path) -> None:
    # R-Net and the crops for it were a fifth of a fast LFW image's CPU; the
    # preset's P-Net bar (0.7) and reused pyramid levels send it about 42
    # windows of an LFW image instead of 55, and lose no face there.
    paper, preset = MtcnnDetector(), DETECTORS["mtcnn"]
    assert isinstance(preset, MtcnnDetector)
    windows = {"paper": 0, "preset": 0}
    for path in sorted((lfw_dir / "lfw").rglob("*.jpg"))[:24]:
        image = imaging.decode(path)
        pixels = image.astype(np.float32)
        windows["paper"] += len(paper._proposals(image, pixels, paper.max_face))
        windows["preset"] += len(preset._proposals(image, pixels, preset.max_face))
        found, _ = preset.boxes(image)
        expected, _ = paper.boxes(image)
        hits, _ = match_boxes([Box(*b) for b in found], [Box(*b) for b in expected])
        assert hits == len(expected), path.name
    assert windows["preset"] < 0.85 * windows["paper"], windows


def test_a_blank_image_has_no_faces() -> None:
    assert MtcnnDetector().detect(np.full((240, 320, 3), 128, np.uint8)) == []


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"min_face": 4}, "min_face"),
        ({"scale_step": 0.99}, "scale_step"),
        ({"thresholds": (0.6, 0.7)}, "thresholds"),
        ({"tile": 10}, "tile"),
        ({"max_level_pixels": 1000}, "max_level_pixels"),
    ],
)
def test_bad_settings_are_config_errors(options: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        MtcnnDetector(**options)  # type: ignore[arg-type]
