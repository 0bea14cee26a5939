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

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facewarden import models
from facewarden.types import Box

__all__ = ["DLIB_BOXES", "MTCNN_BOXES", "BoxConvention", "fit_landmarks"]

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
    import dlib

    start = convention.predictor_box(box)
    rect = dlib.rectangle(
        round(start.x_min), round(start.y_min), round(start.x_max) - 1, round(start.y_max) - 1
    )
    shape = models.load("shape_5")(image, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
