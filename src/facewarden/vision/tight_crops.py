"""Faces that fill the image: a photo cropped tight to a face.

MTCNN was trained on WIDER FACE, whose faces have surroundings: its first
network slides a window over a pyramid whose smallest level still holds the
whole image, and a face cut at the brows and the upper lip (another
detector's box, an ID photo cut to the head) fills that level without the
edges around it the network learnt to see. Cropped along the 43 annotated
boxes of dlib's example photos (150 px), MTCNN misses 5 of them;
face_recognition (HOG, one upsampling) misses 5 too.

:class:`TightCrops` searches the image again with a border of its own edge
pixels added around it, for faces of at least ``smallest`` of the image's
short side only: faces that fill the image. Only that few levels of the
pyramid are searched, on the image scaled down to a short side of
``work_side`` first, so the pass costs a few milliseconds at any image size.
It is meant to run where the plain search found nothing
(:class:`~facewarden.vision.detect.FirstFound`), as both modes run it.
Boxes come back clipped to the image and landmarks are fitted on the image
itself, so a face found this way aligns and embeds as any other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from facewarden.types import Box, Face
from facewarden.vision.landmarks import MTCNN_BOXES, fit_landmarks
from facewarden.vision.mtcnn_detect import MtcnnDetector
from facewarden.vision.shrink import shrunk_to_short_side

__all__ = ["TightCrops"]

RGBImage = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class TightCrops:
    """MTCNN on the image with a border added, for faces that fill the image.

    Attributes:
        detector: the MTCNN detector (its thresholds; its ``min_face`` is
            replaced by the size of a face that fills the image).
        border: the border added on each side, as a fraction of that side.
            0.3: a face cut at the brows and the lip gets its forehead's and
            chin's worth of room back (0.15 finds one crop fewer of the 43).
        smallest: the least face searched for, as a fraction of the image's
            short side: a face that fills the image, not a bystander's.
        work_side: the image's short side is brought down to at most this
            many pixels before the search (a face of ``smallest`` of it still
            measures 96 px there, eight times P-Net's 12 px window).
    """

    detector: MtcnnDetector
    border: float = 0.3
    smallest: float = 0.4
    work_side: int = 240

    @property
    def name(self) -> str:
        """The faces found are MTCNN's: they carry its name."""
        return self.detector.name

    def detect(self, image: RGBImage) -> list[Face]:
        """The faces filling ``image`` (H, W, 3 uint8 RGB), best score first."""
        height, width = image.shape[:2]
        work, factor = shrunk_to_short_side(image, self.work_side)
        work_height, work_width = work.shape[:2]
        pad_y, pad_x = round(work_height * self.border), round(work_width * self.border)
        padded = np.asarray(
            cv2.copyMakeBorder(work, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE), np.uint8
        )
        least = max(self.detector.min_face, self.smallest * min(work_height, work_width))
        search = dataclasses.replace(self.detector, min_face=least, max_face=None)
        boxes, scores = search.boxes(padded)
        faces = []
        for (x1, y1, x2, y2), score in zip(boxes, scores, strict=True):
            # In the image's own pixels; the box as drawn (it may reach past the
            # edges) places the landmark predictor, the clipped box is reported.
            drawn = Box(
                float((x1 - pad_x) / factor),
                float((y1 - pad_y) / factor),
                float((x2 - pad_x) / factor),
                float((y2 - pad_y) / factor),
            )
            clipped = Box(
                max(0.0, drawn.x_min),
                max(0.0, drawn.y_min),
                min(float(width), drawn.x_max),
                min(float(height), drawn.y_max),
            )
            landmarks = fit_landmarks(image, drawn, MTCNN_BOXES)
            faces.append(Face(clipped, landmarks, float(score), self.detector.name))
        return faces
