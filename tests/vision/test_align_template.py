"""Template alignment: the similarity fit, the warp, and dlib's points as ArcFace points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facewarden.vision.align_template import (
    ARCFACE_112,
    ARCFACE_112_FROM_DLIB,
    align_similarity,
    arcface_points_from_dlib,
    umeyama,
)


def similarity(angle_degrees: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    a = math.radians(angle_degrees)
    rotation = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return np.hstack([rotation, np.array(shift)[:, None]])


@pytest.mark.parametrize(
    ("angle", "scale", "shift"),
    [(0, 1, (0, 0)), (30, 0.5, (10, -4)), (-170, 2.5, (-3.5, 99)), (90, 1, (0, 0))],
)
def test_umeyama_recovers_an_exact_similarity(angle: float, scale: float, shift) -> None:
    matrix = similarity(angle, scale, shift)
    source = ARCFACE_112
    target = source @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(umeyama(source, target), matrix, atol=1e-9)


def test_umeyama_never_fits_a_reflection() -> None:
    source = ARCFACE_112
    mirrored = source * np.array([-1.0, 1.0])
    fitted = umeyama(source, mirrored)
    assert np.linalg.det(fitted[:, :2]) > 0


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (np.zeros((3, 2)), np.ones((3, 2))),  # all source points at one place
        (np.ones((1, 2)), np.ones((1, 2))),  # one point fixes no similarity
        (np.ones((3, 2)), np.ones((4, 2))),  # different counts
        (np.ones((3, 3)), np.ones((3, 3))),  # not 2-d points
    ],
)
def test_umeyama_refuses_unusable_point_sets(source, target) -> None:
    with pytest.raises(ValueError, match="point"):
        umeyama(source, target)


def test_the_warp_puts_the_landmarks_on_the_template() -> None:
    # Bright 3x3 dots at the template points, mapped into a larger, rotated image.
    matrix = similarity(20, 2.0, (40, 25))
    points = ARCFACE_112 @ matrix[:, :2].T + matrix[:, 2]
    image = np.zeros((320, 320, 3), dtype=np.uint8)
    for x, y in np.round(points).astype(int):
        image[y - 1 : y + 2, x - 1 : x + 2] = 255
    crop = align_similarity(image, np.round(points), ARCFACE_112, 112)
    assert crop.shape == (112, 112, 3)
    grey = crop[..., 0].astype(float)
    for x, y in ARCFACE_112:
        # The dot's centre of mass lands on the template point within half a pixel.
        x0, y0 = round(x), round(y)
        patch = grey[y0 - 3 : y0 + 4, x0 - 3 : x0 + 4]
        ys, xs = np.mgrid[y0 - 3 : y0 + 4, x0 - 3 : x0 + 4]
        assert patch.sum() > 0
        assert abs((patch * xs).sum() / patch.sum() - x) < 0.5
        assert abs((patch * ys).sum() / patch.sum() - y) < 0.5


def test_the_identity_warp_copies_the_image() -> None:
    image = np.random.default_rng(3).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    crop = align_similarity(image, ARCFACE_112 / 4, ARCFACE_112 / 4, 40)
    # The fitted identity is exact to ~1e-15, and PIL's bilinear sampling then
    # truncates some values by one level; a half-pixel shift would cost far more
    # on random pixels.
    assert np.abs(crop.astype(int) - image.astype(int)).max() <= 1


def test_dlib_points_become_eye_centres_and_nose_base() -> None:
    dlib_points = np.array(
        [[70.0, 40.0], [60.0, 40.0], [20.0, 42.0], [30.0, 42.0], [45.0, 70.0]]
    )  # subject's left eye (image right) corners, right eye corners, nose base
    points = arcface_points_from_dlib(dlib_points)
    np.testing.assert_allclose(points, [[25.0, 42.0], [65.0, 40.0], [45.0, 70.0]])
    assert ARCFACE_112_FROM_DLIB.shape == (3, 2)
    # The nose base sits below the ArcFace nose tip and above the mouth corners.
    assert ARCFACE_112[2, 1] < ARCFACE_112_FROM_DLIB[2, 1] < ARCFACE_112[3, 1]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        arcface_points_from_dlib(np.zeros((68, 2)))
    with pytest.raises(ValueError, match="uint8"):
        align_similarity(np.zeros((10, 10), np.uint8), ARCFACE_112, ARCFACE_112, 112)
    with pytest.raises(ValueError, match="size"):
        align_similarity(np.zeros((10, 10, 3), np.uint8), ARCFACE_112, ARCFACE_112, 0)
