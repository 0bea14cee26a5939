"""The working-size helper shared by the turned-photo and tight-crop searches."""

from __future__ import annotations

import numpy as np

from facewarden.vision.shrink import shrunk_to_short_side


def test_a_large_image_comes_down_to_the_short_side_with_its_factor() -> None:
    image = np.zeros((1000, 3000, 3), np.uint8)
    work, factor = shrunk_to_short_side(image, 250)
    assert work.shape == (250, 750, 3)
    assert work.dtype == np.uint8
    assert factor == 0.25


def test_an_image_already_small_enough_is_the_same_array() -> None:
    image = np.zeros((200, 90, 3), np.uint8)
    work, factor = shrunk_to_short_side(image, 90)
    assert work is image
    assert factor == 1.0
