"""Quality measures on synthetic chips whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from facewarden.types import Box
from facewarden.vision.quality import QualityPolicy, assess, estimate_yaw, laplacian_variance

FRONTAL = np.array([[70, 50], [60, 50], [30, 50], [40, 50], [50, 70]], dtype=np.float32)


def _chip(seed: int = 0, level: float = 128.0, contrast: float = 60.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(level, contrast, size=(150, 150, 3))
    return np.clip(noise, 0, 255).astype(np.uint8)


def test_frontal_face_has_zero_yaw_and_turning_changes_its_sign() -> None:
    assert estimate_yaw(FRONTAL) == pytest.approx(0.0, abs=1e-6)
    turned_one_way = FRONTAL.copy()
    turned_one_way[4, 0] = 60
    turned_other_way = FRONTAL.copy()
    turned_other_way[4, 0] = 40
    assert estimate_yaw(turned_one_way) > 20
    assert estimate_yaw(turned_other_way) < -20


def test_blur_lowers_sharpness() -> None:
    sharp = _chip().mean(axis=2).astype(np.float32)
    blurred = sharp.copy()
    for _ in range(4):  # a few box blurs
        blurred = (
            blurred
            + np.roll(blurred, 1, 0)
            + np.roll(blurred, 1, 1)
            + np.roll(blurred, -1, 0)
            + np.roll(blurred, -1, 1)
        ) / 5
    assert laplacian_variance(blurred) < laplacian_variance(sharp) / 10


@pytest.mark.parametrize(
    ("box", "chip", "landmarks", "reason"),
    [
        (Box(0, 0, 20, 20), _chip(), FRONTAL, "below the 40 px minimum"),
        (Box(0, 0, 100, 100), _chip(level=10, contrast=5), FRONTAL, "too dark"),
        (Box(0, 0, 100, 100), _chip(level=250, contrast=5), FRONTAL, "overexposed"),
        (Box(0, 0, 100, 100), np.full((150, 150, 3), 128, np.uint8), FRONTAL, "blurred"),
        (
            Box(0, 0, 100, 100),
            _chip(),
            np.array([[70, 50], [60, 50], [30, 50], [40, 50], [69, 70]], np.float32),
            "turned",
        ),
    ],
)
def test_each_failure_is_named(box, chip, landmarks, reason) -> None:
    quality = assess(box, landmarks, chip, QualityPolicy())
    assert not quality.usable
    assert any(reason in r for r in quality.reasons)


def test_a_good_face_is_usable() -> None:
    quality = assess(Box(0, 0, 120, 120), FRONTAL, _chip(), QualityPolicy())
    assert quality.usable and quality.reasons == ()


def test_policy_rejects_nonsense_bounds() -> None:
    with pytest.raises(ValueError, match="brightness"):
        QualityPolicy(min_brightness=200, max_brightness=100)
