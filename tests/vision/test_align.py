"""Alignment and the extra views test-time averaging embeds: real photos, exact checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facewarden import imaging
from facewarden.errors import ConfigError
from facewarden.match.similarity import cosine_similarity
from facewarden.match.thresholds import model_key, threshold_for
from facewarden.vision.align import align, jittered, mirror
from facewarden.vision.embed import l2_normalise
from facewarden.vision.pipeline import MAX_JITTERS, Pipeline


@pytest.fixture(scope="module")
def chip(faces_dir: Path) -> np.ndarray:
    image = imaging.decode(faces_dir / "face_recognition" / "examples" / "obama.jpg")
    (face,) = Pipeline.from_mode("fast").run(image, embed=False)
    return align(image, face.landmarks)


def test_jittered_views_are_reproducible_chips(chip: np.ndarray) -> None:
    views = jittered(chip, 6)
    assert len(views) == 6
    assert all(v.shape == chip.shape and v.dtype == np.uint8 for v in views)
    # A fixed table, not a random generator: the same views every call, and
    # a longer list starts with the shorter one.
    assert all(np.array_equal(a, b) for a, b in zip(views, jittered(chip.copy(), 6), strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(views, jittered(chip, 10)[:6], strict=True))
    assert jittered(chip, 0) == []


def test_every_other_view_is_mirrored(chip: np.ndarray) -> None:
    # A jitter moves pixels by a few at most, so each view is nearer the chip
    # it was cut from (the chip itself, or its mirror) than the other one.
    for k, view in enumerate(jittered(chip, 4)):
        near_chip = np.abs(view.astype(int) - chip).mean()
        near_mirror = np.abs(view.astype(int) - mirror(chip)).mean()
        assert (near_mirror < near_chip) == (k % 2 == 1), k


def test_views_differ_from_the_chip_yet_embed_as_the_same_face(chip: np.ndarray) -> None:
    pipeline = Pipeline.from_mode("fast")
    (reference,) = pipeline.embedder.embed([chip])
    for view in jittered(chip, 4):
        assert not np.array_equal(view, chip)
        (vector,) = pipeline.embedder.embed([view])
        # The same photo slightly moved: far above any calibrated threshold.
        assert cosine_similarity(reference, vector) > 0.97


@pytest.mark.parametrize(
    ("shape", "dtype", "count", "message"),
    [
        ((150, 120, 3), np.uint8, 2, "square"),
        ((150, 150), np.uint8, 2, "square"),
        ((150, 150, 3), np.float32, 2, "uint8"),
        ((8, 8, 3), np.uint8, 2, "16 px"),
        ((150, 150, 3), np.uint8, -1, "negative"),
    ],
)
def test_jittered_refuses_what_is_not_a_chip(shape, dtype, count, message) -> None:
    with pytest.raises(ValueError, match=message):
        jittered(np.zeros(shape, dtype=dtype), count)


def test_a_face_embedding_averages_all_its_views(chip: np.ndarray) -> None:
    accurate = Pipeline.from_mode("accurate")
    assert accurate.mirror and accurate.jitters == 8
    fast = Pipeline.from_mode("fast")
    assert fast.mirror and fast.jitters == 0
    views = [chip, mirror(chip), *jittered(chip, 8)]
    expected = l2_normalise(accurate.embedder.embed(views).sum(axis=0))
    (got,) = accurate.embed_chips([chip])
    np.testing.assert_allclose(got, expected[0], atol=1e-6)
    # Several chips in one batch give what each gives alone.
    both = accurate.embed_chips([chip, mirror(chip)])
    np.testing.assert_allclose(both[0], got, atol=1e-6)


@pytest.mark.parametrize("jitters", [-1, MAX_JITTERS + 1])
def test_jitters_out_of_range_are_a_config_error(jitters: int) -> None:
    with pytest.raises(ConfigError, match="jitters"):
        Pipeline(jitters=jitters)


def test_thresholds_are_keyed_by_the_views_averaged() -> None:
    assert model_key("dlib-resnet", mirror=False) == "dlib-resnet"
    assert model_key("dlib-resnet", mirror=True) == "dlib-resnet+mirror"
    assert model_key("dlib-resnet", mirror=True, jitters=8) == "dlib-resnet+mirror+jitter8"
    # Each preset has its own calibration; an uncalibrated view set has none.
    assert threshold_for(Pipeline.from_mode("accurate")) != threshold_for(Pipeline(mirror=True))
    with pytest.raises(ConfigError, match="dlib-resnet\\+jitter3"):
        threshold_for(Pipeline(jitters=3))


def test_mirror_is_numpys_reversed_copy_to_the_byte(chip: np.ndarray) -> None:
    # OpenCV's flip (faster) must give exactly the plain reversed copy, as a new
    # contiguous array, also from a view that is not contiguous.
    for source in (chip, chip[10:130, 5:140], chip[:, :, :]):
        flipped = mirror(source)
        np.testing.assert_array_equal(flipped, np.ascontiguousarray(source[:, ::-1]))
        assert flipped.flags.c_contiguous and flipped.dtype == np.uint8
        assert not np.shares_memory(flipped, source)
    grey = np.ascontiguousarray(chip[:, :, 0])
    np.testing.assert_array_equal(mirror(grey), grey[:, ::-1])
