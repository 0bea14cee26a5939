"""Count people, not only faces: OpenCV's HOG people detector plus the face boxes.

A face detector misses everyone facing away; OpenCV's built-in pedestrian
detector (Dalal and Triggs' HOG + linear SVM,
``cv2.HOGDescriptor_getDefaultPeopleDetector``) finds upright bodies
whichever way they face, from 128 px tall at the scale it runs at. A person
in view is a face or a body; a body whose upper part holds a detected face
is the same person, counted once (:func:`count_people`).

Nothing here identifies anyone: boxes only, which the crowd counters reduce
to numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from facewarden.types import Box

__all__ = ["PeopleDetector", "count_people"]

RGBImage = npt.NDArray[np.uint8]


def _hog() -> Any:
    import cv2

    hog = cv2.HOGDescriptor()
    # Typed stubs of some OpenCV builds lack this function; it is in every build.
    hog.setSVMDetector(getattr(cv2, "HOGDescriptor_getDefaultPeopleDetector")())  # noqa: B009
    return hog


@dataclass(frozen=True)
class PeopleDetector:
    """Finds upright people (front, back or side) in an RGB image.

    Attributes:
        max_width: the image is scaled down to this width first (cost grows
            with the pixels; the detector's window is 64x128 px).
        hit_threshold: the SVM margin a window needs; higher is stricter. At 0.5,
            3 windows fire on the 99 photos of ../shared/data/faces, none of
            which shows a standing person (22 at 0.0, 7 at 0.3).
        scale: the image-pyramid step.
        min_overlap: boxes overlapping more than this (IoU) are merged.
    """

    max_width: int = 640
    hit_threshold: float = 0.5
    scale: float = 1.05
    min_overlap: float = 0.4

    def detect(self, image: RGBImage) -> list[Box]:
        """Boxes of the people in ``image`` (``xyxy`` in its pixels), strongest first."""
        import cv2

        height, width = image.shape[:2]
        factor = min(1.0, self.max_width / width)
        small: npt.NDArray[Any] = image
        if factor < 1.0:
            small = cv2.resize(image, (round(width * factor), round(height * factor)))
        if small.shape[0] < 128 or small.shape[1] < 64:
            return []
        gray = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2GRAY)
        rects, weights = _detector().detectMultiScale(
            gray,
            hitThreshold=self.hit_threshold,
            winStride=(8, 8),
            padding=(8, 8),
            scale=self.scale,
        )
        found = sorted(
            zip([float(w) for w in np.ravel(weights)], [tuple(r) for r in rects], strict=True),
            reverse=True,
        )
        boxes: list[Box] = []
        for _, (x, y, w, h) in found:
            box = Box(x / factor, y / factor, (x + w) / factor, (y + h) / factor)
            if all(box.iou(other) <= self.min_overlap for other in boxes):
                boxes.append(box)
        return boxes


_CACHE: dict[str, Any] = {}


def _detector() -> Any:
    if "hog" not in _CACHE:
        _CACHE["hog"] = _hog()
    return _CACHE["hog"]


def count_people(faces: list[Box], bodies: list[Box]) -> int:
    """People in view: every face, plus every body with no detected face in its upper half.

    A pedestrian box is padded around the person; a face belongs to it when
    the face's centre lies inside the box's upper half.
    """
    unmatched = list(faces)
    count = len(faces)
    for body in bodies:
        x1, y1, x2 = body.x_min, body.y_min, body.x_max
        y2 = y1 + body.height / 2
        inside = [f for f in unmatched if x1 <= f.center[0] <= x2 and y1 <= f.center[1] <= y2]
        if inside:
            unmatched.remove(inside[0])
        else:
            count += 1
    return count
