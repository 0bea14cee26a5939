"""Faces in a photo turned by quarter turns: a phone photo whose EXIF turn was lost.

A phone stores a portrait photo's pixels as the sensor saw them and says in
its EXIF orientation how to turn them; :func:`facewarden.imaging.decode`
applies it. A client that drops the EXIF data without turning the pixels (a
resize in a browser canvas, some messaging apps, a scan fed in sideways)
sends a face lying on its side or upside down. MTCNN, trained on upright
faces, then finds it rarely and weakly (on 60 LFW images turned a quarter:
19 found, none scoring 0.99; upright, 59 of 60 score at least 0.99), and
dlib's landmark predictor, which starts from an upright mean face, places
the eyes wrong: the person's own turned photo scores about 0.87 against an
upright one, far below every operating point.

:class:`QuarterTurns` runs its detector as usual and keeps its answer when
the best face scores ``clear_score`` or more: a clear upright face costs
nothing more. Otherwise it searches the image turned a quarter, a half and
three quarters, and where one of those turns holds a face scoring
``turned_score`` or more and more than any upright face, its faces are
found there, with their landmarks fitted upright, and brought back into the
image's own pixels (:func:`turned_back`). Those faces replace the upright
faces they overlap (the same head fitted sideways); the other upright faces
stay. Alignment fits a similarity transform to the five landmarks, so the
chip of a face found turned is upright whatever the photo's turn.

The two bars differ because MTCNN now and then scores a turned face highly
where it stands: an LFW photo upside down scored 0.9957, its landmarks were
fitted upside down, and its embedding reached 0.9322 against another
person, over the FMR 1e-3 point. Searching the turns below 0.999 (47 of 200
upright LFW faces score less; none of them changes) finds that face the
right way up at 0.999; taking a turn from 0.99 keeps the turned faces that
score 0.99 to 0.999. Of the same 200 photos turned a quarter, a half and
three quarters, 4, 2 and 2 keep an upright fit (one bar of 0.99 for both:
4, 4 and 3; one of 0.999: 16, 18 and 9).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facewarden.types import Box, Face
from facewarden.vision.mtcnn_detect import MtcnnDetector, faces_with_landmarks
from facewarden.vision.shrink import shrunk_to_short_side

__all__ = ["QuarterTurns", "turned_back"]

RGBImage = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class QuarterTurns:
    """A detector that also searches the image turned where no upright face is clear.

    Attributes:
        detector: the MTCNN detector run upright and on each turn (its scores,
            O-Net's face probabilities, compare across turns).
        clear_score: an upright face scoring this or more is clear: no turn is
            searched. 0.999: 153 of 200 upright LFW faces score at least that.
        turned_score: a turn is taken where its best face scores this or more,
            and more than the best upright face. 0.99: 59 of 60 LFW faces score
            at least that upright, none of them turned a quarter, a half or
            three quarters.
        overlap: a face found turned replaces the upright faces it overlaps by
            more than this intersection over union.
        smallest: the least face searched for in a turn, as a fraction of the
            image's short side (and never below the detector's ``min_face``):
            a photo that lost its turn is a portrait or a selfie, not a crowd.
        least_face: the least face, in the image's own pixels (the side of a
            square of the box's area, as the quality bar measures it), that
            counts as found upright: where no upright face is this large (none
            at all, or only smaller ones), the turns are searched for faces of
            at least this size. 0: every face. ``fast`` mode sets the quality
            bar's 40 px: a smaller face is never recognised, so a photo whose
            turn was lost is searched for a face that can be, and the turns of
            a faceless photo cost about half what a search from 20 px does.
        standing_bar: where upright faces of ``least_face`` or more are found
            but none is clear, search the turns (as ``accurate`` does, from the
            detector's ``min_face``) only if one of them looks turned: O-Net
            scores its square crop higher turned a quarter, a half or three
            quarters than as it stands, or below this bar as it stands
            (:meth:`~facewarden.vision.mtcnn_detect.MtcnnDetector.turned_scores`,
            four 48 px crops a face: about 2 ms against three searches of the
            whole photo). None: always search. ``fast`` mode sets 0.9: of 200
            LFW photos (every fourth of fold 1), 41 have an unclear upright
            face of 40 px or more and 2 of them are searched; of the same
            photos turned a quarter, a half and three quarters, every one with
            an unclear face is searched (48, 84, 40).
        work_side: the turns are searched on the image brought down to at most
            this short side (a face of ``smallest`` still measures 40 px there);
            the landmarks of the faces found are fitted at full size. A 25 MP
            photo's three turns then cost about as much as a 1 MP photo's,
            instead of three float copies of 300 MB and their pyramids.
        name: the name of this combination (faces carry their detector's).
    """

    detector: MtcnnDetector
    clear_score: float = 0.999
    turned_score: float = 0.99
    overlap: float = 0.3
    smallest: float = 0.05
    least_face: float = 0.0
    standing_bar: float | None = None
    work_side: int = 800
    name: str = "mtcnn-turns"

    def detect(self, image: RGBImage) -> list[Face]:
        """Faces in ``image`` (H, W, 3 uint8 RGB), best score first, in its own pixels."""
        return self._turned(image, self.detector.detect(image))

    def detect_many(self, images: Sequence[RGBImage]) -> list[list[Face]]:
        """:meth:`detect` on each image, the upright search of all of them in one batch."""
        upright = self.detector.detect_many(images)
        return [self._turned(image, faces) for image, faces in zip(images, upright, strict=True)]

    def _turned(self, image: RGBImage, faces: list[Face]) -> list[Face]:
        """``faces`` found upright in ``image``, or those of a turn where none is clear."""
        upright = max((f.detector_score for f in faces), default=0.0)
        if upright >= self.clear_score:
            return faces
        unclear = [f for f in faces if _side(f) >= self.least_face]
        if unclear and not self._may_be_turned(image, unclear):
            return faces
        work, factor = shrunk_to_short_side(image, self.work_side)
        least = max(self.detector.min_face, self.smallest * min(work.shape[:2]))
        if not unclear:  # no face worth recognising upright: look for one turned
            least = max(least, self.least_face * factor)
        search = dataclasses.replace(self.detector, min_face=least)
        chosen: tuple[int, FloatArray, FloatArray] | None = None
        best = self.turned_score
        for quarters in (1, 2, 3):
            boxes, scores = search.boxes(np.ascontiguousarray(np.rot90(work, quarters)))
            if not len(scores):
                continue
            if scores[0] >= best and scores[0] > upright:
                best = float(scores[0])
                chosen = (quarters, boxes / factor, scores)
        if chosen is None:
            return faces
        quarters, boxes, scores = chosen
        turned = np.ascontiguousarray(np.rot90(image, quarters))
        # Scaled back from the work size, a box may pass the edge by a rounding.
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, turned.shape[1])
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, turned.shape[0])
        found = [
            Face(
                *turned_back(f.box, f.landmarks, quarters, turned.shape),
                f.detector_score,
                f.detector,
            )
            for f in faces_with_landmarks(turned, boxes, scores, self.detector.name)
        ]
        return _merged(found, faces, self.overlap)

    def _may_be_turned(self, image: RGBImage, unclear: list[Face]) -> bool:
        """Whether one of the ``unclear`` faces may be lying on its side or upside down."""
        if self.standing_bar is None:
            return True
        boxes = np.array([f.box.as_tuple() for f in unclear], np.float32)
        scores = self.detector.turned_scores(image, boxes)
        standing = scores[:, 0]
        return bool(((scores[:, 1:].max(axis=1) > standing) | (standing < self.standing_bar)).any())


def turned_back(
    box: Box, landmarks: npt.ArrayLike, quarters: int, turned_shape: tuple[int, ...]
) -> tuple[Box, FloatArray]:
    """A box and points found in ``np.rot90(image, quarters)``, in ``image``'s own pixels.

    Args:
        box: ``xyxy`` box in the turned image (edges: ``x_max`` exclusive).
        landmarks: ``(n, 2)`` ``(x, y)`` pixel positions in the turned image.
        quarters: how many times numpy turned the image counter-clockwise.
        turned_shape: the turned image's shape.

    Returns:
        The box and the points where the same pixels lie in the original image.
    """
    points = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2).copy()
    corners = np.array([[box.x_min, box.y_min], [box.x_max, box.y_max]], dtype=np.float64)
    height, width = turned_shape[:2]
    for _ in range(quarters % 4):
        # One counter-clockwise turn undone: turned[r, c] == before[c, W - 1 - r],
        # where W (the image's width before this turn) is the turned image's height.
        # A pixel index maps to W - 1 - r, a box edge to W - r.
        points = np.column_stack((height - 1 - points[:, 1], points[:, 0]))
        corners = np.column_stack((height - corners[:, 1], corners[:, 0]))
        height, width = width, height
    (x1, y1), (x2, y2) = corners
    original = Box(float(min(x1, x2)), float(min(y1, y2)), float(max(x1, x2)), float(max(y1, y2)))
    return original, points.astype(np.float32)


def _side(face: Face) -> float:
    """The side of a square of ``face``'s box area: its size, as the quality bar measures it."""
    return float(np.sqrt(face.box.width * face.box.height))


def _merged(found: list[Face], upright: list[Face], overlap: float) -> list[Face]:
    """The faces found turned, and the upright faces none of them overlaps; best first."""
    kept = found + [f for f in upright if all(f.box.iou(t.box) <= overlap for t in found)]
    kept.sort(key=lambda f: f.detector_score, reverse=True)
    return kept
