"""An image brought down to a working size before a search, and the factor to map back."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["shrunk_to_short_side"]

RGBImage = npt.NDArray[np.uint8]


def shrunk_to_short_side(image: RGBImage, side: int) -> tuple[RGBImage, float]:
    """``image`` scaled down (area averaging) so its short side is at most ``side``.

    Returns the working image and its scale against ``image`` (1.0 when it
    was small enough already, and then the very same array): a point of the
    working image is at ``point / factor`` in ``image``.
    """
    height, width = image.shape[:2]
    factor = min(1.0, side / min(height, width))
    if factor == 1.0:
        return image, factor
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8), factor
