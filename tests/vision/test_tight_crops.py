"""Photos cropped tight to a face: another detector's box, an ID photo cut to the head.

MTCNN was trained on faces with surroundings; a crop along dlib's annotated
box (brows to upper lip, the forehead and chin cut off) leaves it nothing
around the face, and it missed 5 of the 43 annotated faces of dlib's example
photos so cropped (face_recognition: 5 at 150 px). Every one of those crops
is a face a client sends to be identified.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facewarden import imaging
from facewarden.match.similarity import cosine_similarity
from facewarden.match.thresholds import threshold_for
from facewarden.vision.detect import MTCNN, FirstFound
from facewarden.vision.pipeline import Pipeline, central_face
from facewarden.vision.tight_crops import TightCrops

_BOX = re.compile(r"<box top='(-?\d+)' left='(-?\d+)' width='(\d+)' height='(\d+)'")
_IMAGE = re.compile(r"<image file='([^']+)'[^>]*>(.*?)</image>", re.S)


def _annotated_crops(faces_dir: Path, size: int) -> list[np.ndarray]:
    """Every face of dlib's annotation files, cropped along its box and resized to ``size``."""
    folder = faces_dir / "dlib" / "examples" / "faces"
    crops = []
    for xml in ("training.xml", "testing.xml"):
        for name, body in _IMAGE.findall((folder / xml).read_text(encoding="latin-1")):
            photo = Image.fromarray(imaging.decode(folder / name))
            for top, left, width, height in (map(int, box) for box in _BOX.findall(body)):
                crop = photo.crop((left, top, left + width, top + height))
                crops.append(np.asarray(crop.resize((size, size), Image.Resampling.BICUBIC)))
    return crops


@pytest.fixture(scope="module")
def crops_150(faces_dir: Path) -> list[np.ndarray]:
    crops = _annotated_crops(faces_dir, 150)
    assert len(crops) == 43  # the README's count of dlib's annotated boxes
    return crops


@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_every_face_cropped_along_its_annotated_box_is_found(
    crops_150: list[np.ndarray], mode: str
) -> None:
    pipeline = Pipeline.from_mode(mode)
    missed = [i for i, faces in enumerate(pipeline.run_many(crops_150, embed=False)) if not faces]
    assert missed == []


def test_a_face_found_filling_the_crop_lies_in_it(crops_150: list[np.ndarray]) -> None:
    # The search runs on the crop with a border added; what comes back is in the
    # crop's own pixels: boxes clipped to it, landmarks (eyes, nose) inside it.
    detector = TightCrops(MTCNN)
    missed_by_mtcnn = [crop for crop in crops_150 if not MTCNN.detect(crop)]
    assert missed_by_mtcnn, "MTCNN alone now finds every crop: this test no longer tests anything"
    for crop in missed_by_mtcnn:
        [face] = detector.detect(crop)
        box = face.box
        assert 0 <= box.x_min < box.x_max <= 150 and 0 <= box.y_min < box.y_max <= 150
        assert box.width > 0.6 * 150  # it fills the crop
        assert (face.landmarks >= 0).all() and (face.landmarks < 150).all()
        assert face.detector == MTCNN.name


def test_only_faces_that_fill_the_image_are_searched_for(faces_dir: Path) -> None:
    # A group photo's faces are small: the tight-crop pass finds none of them,
    # and a photo with no face at all (dlib's dogs) stays empty.
    folder = faces_dir / "dlib" / "examples" / "faces"
    detector = TightCrops(MTCNN)
    assert detector.detect(imaging.decode(folder / "2008_002470.jpg")) == []
    assert detector.detect(imaging.decode(folder / "dogs.jpg")) == []


def test_a_tight_crop_still_verifies_against_the_whole_photo(faces_dir: Path) -> None:
    # An ID photo cut to the head against the person's ordinary photo: the
    # accurate pipeline's match holds on the crop as on the photo it came from.
    folder = faces_dir / "face_recognition" / "tests" / "test_images"
    accurate = Pipeline.from_mode("accurate")
    whole = imaging.decode(folder / "obama.jpg")
    other = imaging.decode(folder / "obama2.jpg")
    face = central_face(accurate.run(whole), whole.shape)
    assert face is not None
    side = max(face.box.width, face.box.height) * 0.9  # tighter than the face's box
    cx, cy = face.box.center
    left, top = round(cx - side / 2), round(cy - side / 2)
    crop = np.ascontiguousarray(whole[top : top + round(side), left : left + round(side)])
    found = central_face(accurate.run(crop), crop.shape)
    reference = central_face(accurate.run(other), other.shape)
    assert found is not None and reference is not None
    similarity = cosine_similarity(found.require_embedding(), reference.require_embedding())
    assert similarity >= threshold_for(accurate, 1e-3)


def test_first_found_finds_many_images_as_it_finds_each(crops_150: list[np.ndarray]) -> None:
    # detect_many (MTCNN's batched landmarks, then the next detector for the
    # images still empty) gives what detect gives, image by image.
    detector = FirstFound((MTCNN, TightCrops(MTCNN)))
    images = crops_150[:12]
    many = detector.detect_many(images)
    for image, faces in zip(images, many, strict=True):
        one = detector.detect(image)
        assert [f.box for f in faces] == [f.box for f in one]
        assert all(
            np.array_equal(a.landmarks, b.landmarks) for a, b in zip(faces, one, strict=True)
        )
