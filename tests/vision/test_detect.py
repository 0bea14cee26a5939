"""Detection on real photos, checked against dlib's own annotated boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facewarden import imaging
from facewarden.errors import ConfigError
from facewarden.vision.detect import CascadeDetector, HogDetector, make_detector

from ._boxes import annotated_boxes, match_boxes

GROUP_PHOTOS = [
    ("training.xml", "2007_007763.jpg"),
    ("training.xml", "2008_002079.jpg"),
    ("training.xml", "2008_001009.jpg"),
    ("training.xml", "2008_001322.jpg"),
    ("testing.xml", "2008_002470.jpg"),
    ("testing.xml", "2008_002506.jpg"),
    ("testing.xml", "2008_004176.jpg"),
    ("testing.xml", "2008_007676.jpg"),
    ("testing.xml", "2009_004587.jpg"),
]


@pytest.mark.parametrize(("xml_name", "image_name"), GROUP_PHOTOS)
def test_cascade_finds_every_annotated_face_without_false_positives(
    faces_dir: Path, xml_name: str, image_name: str
) -> None:
    folder = faces_dir / "dlib" / "examples" / "faces"
    truth = annotated_boxes(folder / xml_name, image_name)
    image = imaging.decode(folder / image_name)
    faces = CascadeDetector().detect(image)
    hits, false_positives = match_boxes([f.box for f in faces], truth)
    # dlib's HOG model was trained on boxes drawn this way, so every face of
    # these photos (37 to 109 px) should be found once its small faces are
    # searched for, and nothing else.
    assert hits == len(truth), f"{image_name}: found {hits} of {len(truth)} annotated faces"
    assert false_positives == 0


def test_plain_hog_without_upsampling_misses_the_small_faces(faces_dir: Path) -> None:
    # Why the cascade upsamples group scenes: 37 px faces are below HOG's 80 px window.
    folder = faces_dir / "dlib" / "examples" / "faces"
    truth = annotated_boxes(folder / "training.xml", "2007_007763.jpg")
    faces = HogDetector().detect(imaging.decode(folder / "2007_007763.jpg"))
    assert match_boxes([f.box for f in faces], truth)[0] < len(truth)


def test_dogs_hold_no_human_face(faces_dir: Path) -> None:
    image = imaging.decode(faces_dir / "dlib" / "examples" / "faces" / "dogs.jpg")
    assert CascadeDetector().detect(image) == []


def test_collage_of_24_faces(faces_dir: Path) -> None:
    image = imaging.decode(faces_dir / "dlib" / "examples" / "faces" / "bald_guys.jpg")
    assert len(CascadeDetector().detect(image)) == 24


@pytest.mark.parametrize("resolution", ["240p", "480p", "720p", "1080p"])
def test_one_face_at_every_resolution(faces_dir: Path, resolution: str) -> None:
    image = imaging.decode(faces_dir / "face_recognition" / "examples" / f"obama-{resolution}.jpg")
    faces = CascadeDetector().detect(image)
    assert len(faces) == 1
    # The face keeps its place relative to the frame at every resolution.
    cx, cy = faces[0].box.center
    height, width = image.shape[:2]
    assert 0.35 < cx / width < 0.65 and 0.1 < cy / height < 0.6


def test_faces_carry_five_landmarks_inside_their_box(faces_dir: Path) -> None:
    image = imaging.decode(faces_dir / "face_recognition" / "examples" / "obama.jpg")
    (face,) = CascadeDetector().detect(image)
    assert face.landmarks.shape == (5, 2)
    x0, y0, x1, y1 = face.box.as_tuple()
    assert np.all((face.landmarks[:, 0] > x0) & (face.landmarks[:, 0] < x1))
    assert np.all((face.landmarks[:, 1] > y0) & (face.landmarks[:, 1] < y1))
    # dlib's order: the subject's left eye (image right) first, the nose last and lowest.
    assert face.landmarks[0, 0] > face.landmarks[2, 0]
    assert face.landmarks[4, 1] > face.landmarks[:4, 1].max()


def test_cnn_fallback_runs_only_where_hog_finds_nothing(faces_dir: Path) -> None:
    image = imaging.decode(faces_dir / "face_recognition" / "examples" / "obama.jpg")
    (face,) = CascadeDetector().detect(image)
    assert face.detector == "hog"


def test_unknown_detector_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="choose one of: cascade"):
        make_detector("yolo")


def test_blank_image_has_no_face() -> None:
    assert CascadeDetector().detect(np.full((300, 400, 3), 128, dtype=np.uint8)) == []
