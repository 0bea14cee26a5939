"""5-point alignment: a face's landmarks to the embedder's fixed chip.

A pure function of the image and the landmarks. It uses dlib's chip
extraction (a similarity transform fitted to dlib's 5-point template, with
bilinear sampling and an anti-aliasing pyramid when shrinking) because the
ResNet embedder was trained on exactly those chips: a home-made warp that
differs by a pixel costs accuracy for nothing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from facewarden.types import Box

__all__ = ["align", "mirror"]

RGBImage = npt.NDArray[np.uint8]


def align(
    image: RGBImage,
    landmarks: npt.NDArray[np.float32],
    *,
    size: int = 150,
    padding: float = 0.25,
) -> RGBImage:
    """The aligned ``(size, size, 3)`` RGB chip of the face with these landmarks.

    Args:
        image: the RGB image the landmarks were found in.
        landmarks: ``(5, 2)`` points in dlib's 5-point order.
        size: chip side in pixels (150 for dlib's ResNet).
        padding: margin around the template, as a fraction of the face (0.25 for dlib's ResNet).

    Raises:
        ValueError: landmarks of the wrong shape.
    """
    import dlib

    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2):
        raise ValueError(f"landmarks must have shape (5, 2), got {points.shape}")
    # dlib points are integers; its own shape predictor rounds the same way.
    parts = [dlib.point(round(x), round(y)) for x, y in points]
    x_min, y_min = points.min(axis=0)
    x_max, y_max = points.max(axis=0)
    box = Box(float(x_min), float(y_min), float(x_max) + 1, float(y_max) + 1)
    rect = dlib.rectangle(round(box.x_min), round(box.y_min), round(box.x_max), round(box.y_max))
    shape = dlib.full_object_detection(rect, parts)
    chip = dlib.get_face_chip(np.ascontiguousarray(image), shape, size=size, padding=padding)
    return np.asarray(chip, dtype=np.uint8)


def mirror(chip: RGBImage) -> RGBImage:
    """The chip flipped left-right (a contiguous copy, as dlib requires)."""
    return np.ascontiguousarray(chip[:, ::-1])
