"""compare_images: one call for a 1:1 decision on two photos, no registry, on real photos.

What a user of face_recognition's ``compare_faces`` or DeepFace's ``verify``
reaches for (docs/migrating.md). Before it, the README's recipe was five
lines whose ``central_face(...)`` gave None for a photo with no face, and the
next line failed with an AttributeError instead of saying which photo.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from facewarden import imaging
from facewarden.errors import ConfigError, FaceNotFoundError, ImageError
from facewarden.match.thresholds import threshold_for
from facewarden.service import compare_images
from facewarden.vision.pipeline import Pipeline


@pytest.fixture(scope="module")
def accurate() -> Pipeline:
    return Pipeline.from_mode("accurate")


@pytest.fixture(scope="module")
def examples(faces_dir: Path) -> Path:
    return faces_dir / "face_recognition" / "examples"


def test_same_person_is_a_match_at_the_calibrated_threshold(
    accurate: Pipeline, examples: Path
) -> None:
    result = compare_images(accurate, examples / "obama-480p.jpg", examples / "obama2.jpg")
    assert result.threshold == threshold_for(accurate, 1e-3)
    assert result.fmr == 1e-3
    assert result.similarity >= result.threshold and result.is_match
    assert result.warnings == ()
    # The two faces compared, boxes in each photo's own pixels.
    (face_a, face_b), photo_b = result.faces, imaging.decode(examples / "obama2.jpg")
    x0, y0, x1, y1 = face_b.box.as_tuple()
    assert 0 <= x0 < x1 <= photo_b.shape[1] and 0 <= y0 < y1 <= photo_b.shape[0]
    assert face_a.embedding is not None and face_b.embedding is not None


def test_different_people_are_not_a_match_even_at_the_loosest_point(
    accurate: Pipeline, examples: Path
) -> None:
    result = compare_images(accurate, examples / "obama.jpg", examples / "biden.jpg", fmr=1e-2)
    assert result.threshold == threshold_for(accurate, 1e-2)
    assert not result.is_match
    assert result.similarity < result.threshold


def test_arrays_and_bytes_give_the_decision_a_path_gives(
    accurate: Pipeline, examples: Path
) -> None:
    by_path = compare_images(accurate, examples / "obama-480p.jpg", examples / "obama2.jpg")
    by_value = compare_images(
        accurate,
        imaging.decode(examples / "obama-480p.jpg"),  # RGB, as face_recognition loads it
        (examples / "obama2.jpg").read_bytes(),
    )
    assert by_value.similarity == pytest.approx(by_path.similarity, abs=1e-6)
    assert by_value.is_match


def test_a_photo_with_several_faces_compares_the_central_one_and_says_so(
    accurate: Pipeline, examples: Path
) -> None:
    """two_people.jpg shows Obama and Biden; its central face decides, with a warning."""
    result = compare_images(accurate, examples / "obama.jpg", examples / "two_people.jpg")
    assert result.warnings == (f"{examples / 'two_people.jpg'}: 2 faces, compared the central one",)


def test_a_photo_with_no_face_is_a_typed_error_naming_it(
    accurate: Pipeline, examples: Path
) -> None:
    """A real photo's background, away from both faces: no face, and the error says which."""
    background = np.ascontiguousarray(imaging.decode(examples / "two_people.jpg")[300:, 400:760])
    with pytest.raises(FaceNotFoundError, match=r"^probe image: no face found$"):
        compare_images(accurate, examples / "obama.jpg", background)


def test_a_face_below_the_quality_bar_is_refused_unless_forced(
    accurate: Pipeline, examples: Path
) -> None:
    dark = (imaging.decode(examples / "obama.jpg") * 0.2).astype(np.uint8)
    with pytest.raises(FaceNotFoundError, match="too dark"):
        compare_images(accurate, examples / "obama-480p.jpg", dark)
    forced = compare_images(accurate, examples / "obama-480p.jpg", dark, force=True)
    assert len(forced.warnings) == 1
    assert forced.warnings[0].startswith("probe image: face below the quality bar (")
    assert "too dark" in forced.warnings[0]


def test_an_uncalibrated_operating_point_fails_before_any_photo_is_read(
    accurate: Pipeline, tmp_path: Path
) -> None:
    missing = tmp_path / "never-read.jpg"
    with pytest.raises(ConfigError, match=r"no threshold calibrated at FMR 0\.05"):
        compare_images(accurate, missing, missing, fmr=0.05)


def test_a_photo_as_base64_text_is_refused_in_a_few_words(
    accurate: Pipeline, examples: Path
) -> None:
    """DeepFace's verify takes base64 text for a photo; here it is refused, without the
    error quoting hundreds of kilobytes of it back."""
    text = base64.b64encode((examples / "obama2.jpg").read_bytes()).decode()
    for given in (text, "data:image/jpeg;base64," + text):
        with pytest.raises(ImageError) as refused:
            compare_images(accurate, examples / "obama.jpg", given)
        assert refused.value.message.startswith("probe image: ")
        assert "pass the bytes" in refused.value.message and len(refused.value.message) < 300
