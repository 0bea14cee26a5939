"""dlib's five landmarks for a face box from any detector: the one place box conventions meet.

dlib's 5-point shape predictor refines a mean face placed in a starting box,
and it was trained on the boxes of dlib's own detectors (HOG, and the MMOD
CNN, which draws them the same way): square, from the brows to the upper
lip. A box drawn to another convention must be mapped to that one before the
fit. Fitted from MTCNN's own box (WIDER FACE style, the forehead included)
the landmarks drift and recognition pays: on the LFW fold 1 pairs, with one
embedding per face, 98.33% from MTCNN's box as it is, 98.83% from it mapped
here, 99.00% from dlib's HOG box.

Every detector hands its boxes to :func:`fit_landmarks` with its
:class:`BoxConvention`. A new detector adds its convention here, measured on
faces that it and dlib's HOG detector both find.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from facewarden import models
from facewarden.types import Box, Face

__all__ = ["DLIB_BOXES", "MTCNN_BOXES", "BoxConvention", "fit_landmarks", "fit_mtcnn_points"]

RGBImage = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class BoxConvention:
    """Where the box dlib's predictor expects lies within a detector's face box.

    Attributes:
        name: the detector family whose boxes these are.
        centre_x: the dlib box's centre, as a fraction of the box's width from its left.
        centre_y: the dlib box's centre, as a fraction of the box's height from its top.
        side: the dlib box's side (it is square), as a fraction of the box's height;
            0 takes the box as it is.
    """

    name: str
    centre_x: float = 0.5
    centre_y: float = 0.5
    side: float = 0.0

    def __post_init__(self) -> None:
        if self.side < 0 or not (0 <= self.centre_x <= 1 and 0 <= self.centre_y <= 1):
            raise ValueError(f"a box convention needs centres in [0, 1] and side >= 0: {self}")

    def predictor_box(self, box: Box) -> Box:
        """The box dlib's 5-point predictor should start from, for a face box drawn this way."""
        if self.side == 0:
            return box
        cx = box.x_min + box.width * self.centre_x
        cy = box.y_min + box.height * self.centre_y
        half = box.height * self.side / 2
        return Box(cx - half, cy - half, cx + half, cy + half)


#: dlib's HOG and MMOD detectors: the boxes the predictor was trained on.
DLIB_BOXES = BoxConvention("dlib")

#: MTCNN's boxes (WIDER FACE's convention) are taller and reach higher than
#: dlib's. Medians over 120 faces both detectors found on the dlib example
#: photos and 50 LFW images (interquartile ranges 0.11, 0.05 and 0.11); on all
#: 807 LFW fold images against HOG upsampled once: 0.48, 0.56 and 0.86.
MTCNN_BOXES = BoxConvention("mtcnn", centre_x=0.5, centre_y=0.55, side=0.86)


def fit_landmarks(
    image: RGBImage, box: Box, convention: BoxConvention = DLIB_BOXES
) -> npt.NDArray[np.float32]:
    """dlib's 5 landmarks of the face in ``box``, a box drawn to ``convention``.

    Args:
        image: the RGB image the box was found in.
        box: the face's box, ``xyxy`` pixels.
        convention: how the detector that drew ``box`` draws its boxes.

    Returns:
        ``(5, 2)`` float32 points in dlib's 5-point order.
    """
    shape = models.load("shape_5")(image, _rectangle(convention.predictor_box(box)))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


# In the 68 points of iBUG 300-W (dlib's 68-point predictor): the eye on the
# image's left, the other eye, the nose tip, the mouth corners left and right.
_EYE_ON_THE_LEFT, _EYE_ON_THE_RIGHT = slice(36, 42), slice(42, 48)
_NOSE_TIP, _MOUTH_LEFT, _MOUTH_RIGHT = 30, 48, 54


def fit_mtcnn_points(image: RGBImage, face: Face) -> npt.NDArray[np.float32]:
    """MTCNN's five points of ``face``: eye centres, nose tip, mouth corners.

    Those are the points CompreFace (and MTCNN's own output) calls the
    landmarks, each pair image-left first. dlib's five points are other
    ones (the corners of the eyes, the base of the nose: what alignment
    uses), so these come from dlib's 68-point predictor, started from the
    face's box as its detector draws it; its model (about 100 MB) is loaded
    on first use only. A face lying on its side (found in a turned photo)
    is fitted upright: the photo is turned by the quarter turns its eyes say.

    Returns:
        ``(5, 2)`` float32 points.
    """
    points = np.asarray(face.landmarks, dtype=np.float64)
    across = points[0:2].mean(axis=0) - points[2:4].mean(axis=0)  # image-left eye to the other
    turns = round(math.degrees(math.atan2(across[1], across[0])) / 90) % 4
    upright = np.ascontiguousarray(np.rot90(image, turns))
    corners = np.array(
        [[face.box.x_min, face.box.y_min], [face.box.x_max, face.box.y_max]], dtype=np.float64
    )
    turned = _turned(corners, image.shape, turns)
    (x_min, y_min), (x_max, y_max) = turned.min(axis=0), turned.max(axis=0)
    convention = MTCNN_BOXES if face.detector.startswith("mtcnn") else DLIB_BOXES
    start = convention.predictor_box(Box(float(x_min), float(y_min), float(x_max), float(y_max)))
    shape = models.load("shape_68")(upright, _rectangle(start))
    fitted = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    five = np.array(
        [
            fitted[_EYE_ON_THE_LEFT].mean(axis=0),
            fitted[_EYE_ON_THE_RIGHT].mean(axis=0),
            fitted[_NOSE_TIP],
            fitted[_MOUTH_LEFT],
            fitted[_MOUTH_RIGHT],
        ]
    )
    back: npt.NDArray[np.float32] = _turned_back(five, image.shape, turns).astype(np.float32)
    return back


def _turned(points: npt.NDArray[np.float64], shape: tuple[int, ...], turns: int) -> Any:
    """``points`` of an image of ``shape`` where they lie after ``np.rot90(image, turns)``."""
    height, width = shape[:2]
    for _ in range(turns):  # one quarter turn: (x, y) -> (y, width - 1 - x)
        points = np.stack([points[:, 1], width - 1 - points[:, 0]], axis=1)
        height, width = width, height
    return points


def _turned_back(points: npt.NDArray[np.float64], shape: tuple[int, ...], turns: int) -> Any:
    """``points`` of ``np.rot90(image, turns)`` where they lie in ``image`` (of ``shape``)."""
    height, width = shape[:2]
    sizes = []
    for _ in range(turns):
        sizes.append(width)
        height, width = width, height
    for original_width in reversed(sizes):  # undo one turn: (x', y') -> (width - 1 - y', x')
        points = np.stack([original_width - 1 - points[:, 1], points[:, 0]], axis=1)
    return points


def _rectangle(box: Box) -> Any:
    import dlib

    return dlib.rectangle(
        round(box.x_min), round(box.y_min), round(box.x_max) - 1, round(box.y_max) - 1
    )
