"""What real life does to a photo, seeded: turns, compression, blur, dim light, grey, size, cover.

Each degradation takes an RGB image, a ``numpy`` random generator (the
benchmark seeds one per image and condition, so a run is repeatable) and the
image's face boxes (where a cover goes), and returns the degraded image and
the map of a point of the original to the degraded image (only turns and
tilts move faces; the map places annotated boxes).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

RGBImage = npt.NDArray[np.uint8]
Point = tuple[float, float]
PointMap = Callable[[float, float], Point]
Band = tuple[float, float, float, float]  # xyxy, in pixels
Degraded = tuple[RGBImage, PointMap]
#: (image, generator, the image's face boxes) -> the degraded image, and where a point went.
Transform = Callable[[RGBImage, np.random.Generator, list[Band]], Degraded]


def _same(x: float, y: float) -> Point:
    return x, y


def quarter_turns(quarters: int) -> Transform:
    """``np.rot90`` (counter-clockwise): the pixels a phone sends when its EXIF turn is dropped."""

    def turn(image: RGBImage, rng: np.random.Generator, faces: list[Band]) -> Degraded:
        height, width = image.shape[:2]

        def mapped(x: float, y: float) -> Point:
            w, h = width, height
            for _ in range(quarters % 4):
                # turned[r, c] == before[c, w - 1 - r]: a point (x, y) goes to (y, w - x).
                x, y = y, w - x
                w, h = h, w
            return x, y

        return np.ascontiguousarray(np.rot90(image, quarters)), mapped

    return turn


def tilt(image: RGBImage, rng: np.random.Generator, faces: list[Band]) -> Degraded:
    """A camera held askew: 10 to 25 degrees either way, the frame kept, edges replicated."""
    degrees = float(rng.uniform(10.0, 25.0) * rng.choice([-1.0, 1.0]))
    height, width = image.shape[:2]
    centre = (width / 2.0, height / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    turned = cv2.warpAffine(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )

    def mapped(x: float, y: float) -> Point:
        return (
            float(matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2]),
            float(matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2]),
        )

    return np.asarray(turned, dtype=np.uint8), mapped


def jpeg(image: RGBImage, rng: np.random.Generator, faces: list[Band]) -> Degraded:
    """Saved again at JPEG quality 15 to 30 (a messaging app, a thumbnail service)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(rng.integers(15, 31)))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")), _same


def gaussian_blur(image: RGBImage, rng: np.random.Generator, faces: list[Band]) -> Degraded:
    """Out of focus: a Gaussian of sigma 1.0 to 2.0 px (on a 250 px LFW photo)."""
    sigma = float(rng.uniform(1.0, 2.0))
    return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), dtype=np.uint8), _same


def motion_blur(image: RGBImage, rng: np.random.Generator, faces: list[Band]) -> Degraded:
    """A hand that moved: a line kernel 5 to 11 px long at any angle."""
    length = int(rng.integers(5, 12))
    angle = float(rng.uniform(0.0, math.pi))
    kernel = np.zeros((length, length), dtype=np.float32)
    c = (length - 1) / 2.0
    dx, dy = math.cos(angle) * c, math.sin(angle) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    kernel /= kernel.sum()
    return np.asarray(cv2.filter2D(image, -1, kernel), dtype=np.uint8), _same


def low_light(image: RGBImage, rng: np.random.Generator, faces: list[Band]) -> Degraded:
    """Shot in a dim room: exposure 1/6 to 1/12 of the original, then sensor noise.

    The light is cut in linear intensity (sRGB's 2.2 gamma undone and redone),
    and Gaussian noise of sigma 3 to 6 grey levels added, as a phone's
    auto-gain leaves it.
    """
    exposure = float(rng.uniform(1 / 12, 1 / 6))
    linear = (image.astype(np.float32) / 255.0) ** 2.2 * exposure
    dim = linear ** (1 / 2.2) * 255.0
    noisy = dim + rng.normal(0.0, float(rng.uniform(3.0, 6.0)), size=image.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8), _same


def greyscale(image: RGBImage, rng: np.random.Generator, faces: list[Band]) -> Degraded:
    """A black-and-white photo or an infrared camera: ITU-R 601 luma on all three channels."""
    grey = np.asarray(Image.fromarray(image).convert("L"))
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2)), _same


def small(image: RGBImage, rng: np.random.Generator, faces: list[Band]) -> Degraded:
    """A face taken from far away and enlarged: down to a third to a quarter, back up bicubic."""
    factor = float(rng.uniform(1 / 4, 1 / 3))
    height, width = image.shape[:2]
    down = cv2.resize(
        image,
        (max(1, round(width * factor)), max(1, round(height * factor))),
        interpolation=cv2.INTER_AREA,
    )
    up = cv2.resize(down, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.asarray(up, dtype=np.uint8), _same


def lower_face_covered(image: RGBImage, rng: np.random.Generator, faces: list[Band]) -> Degraded:
    """A band of one colour over each face from the nose tip down (a mask, a scarf, a hand).

    The band covers the lower 38% of each face box (LFW's central box, an
    annotated box), the full width of the box.
    """
    out = image.copy()
    out_colour = rng.integers(0, 256, size=3).astype(np.uint8)
    for x1, y1, x2, y2 in faces:
        top = y1 + 0.62 * (y2 - y1)
        out[max(0, round(top)) : max(0, round(y2)), max(0, round(x1)) : max(0, round(x2))] = (
            out_colour
        )
    return out, _same


@dataclass(frozen=True)
class Condition:
    """One named degradation, and what it does."""

    name: str
    apply: Transform
    what: str


def conditions() -> list[Condition]:
    """Every condition the benchmark knows, the untouched photo first."""
    return [
        Condition("original", lambda image, rng, faces: (image, _same), "the photo as it is"),
        Condition("turned 90", quarter_turns(1), "a quarter turn counter-clockwise, EXIF lost"),
        Condition("turned 180", quarter_turns(2), "upside down (a card scanned the wrong way)"),
        Condition("turned 270", quarter_turns(3), "three quarter turns, EXIF lost"),
        Condition("tilted 10-25", tilt, (tilt.__doc__ or "").strip()),
        Condition("jpeg q15-30", jpeg, (jpeg.__doc__ or "").strip()),
        Condition("gaussian blur", gaussian_blur, (gaussian_blur.__doc__ or "").strip()),
        Condition("motion blur", motion_blur, (motion_blur.__doc__ or "").strip()),
        Condition("low light", low_light, "exposure 1/6 to 1/12, then sensor noise"),
        Condition("greyscale", greyscale, (greyscale.__doc__ or "").strip()),
        Condition("small then enlarged", small, (small.__doc__ or "").strip()),
        Condition("lower face covered", lower_face_covered, "a band from the nose tip down"),
    ]
