"""Count people, not only faces: a body detector plus the face boxes.

A face detector misses everyone facing away; a body detector finds people
whichever way they face. Two are offered (:func:`make_people_detector`):

* ``hog``: OpenCV's built-in pedestrian detector (Dalal and Triggs' HOG +
  linear SVM, ``cv2.HOGDescriptor_getDefaultPeopleDetector``), upright
  bodies from 128 px tall at the scale it runs at (:class:`PeopleDetector`);
* ``nanodet``: NanoDet-m's person class, a CNN on ONNX Runtime
  (:class:`facewarden.vision.people_nanodet.NanodetPeopleDetector`), when
  its files were fetched at install time (``scripts/fetch_people_model.py``).

``auto`` (the default) is NanoDet-m when its files are present, else HOG
with a one-line notice.

A person in view is a face or a body; a body whose upper part holds a
detected face is the same person, counted once (:func:`count_people`).

Nothing here identifies anyone: boxes only, which the crowd counters reduce
to numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from facewarden.errors import ConfigError
from facewarden.types import Box, Face

if TYPE_CHECKING:
    from facewarden.config import Settings

__all__ = [
    "COUNTING_MIN_SCORE",
    "DEFAULT_PEOPLE_DETECTOR",
    "PART_FACE_HEIGHTS",
    "PEOPLE_DETECTORS",
    "BodyDetector",
    "PeopleDetector",
    "count_people",
    "countable",
    "counted_bodies",
    "make_people_detector",
    "people_detector_for",
]

log = logging.getLogger(__name__)

#: The body detectors :func:`make_people_detector` builds; ``auto`` is NanoDet
#: when its files are present, else HOG.
PEOPLE_DETECTORS = ("auto", "nanodet", "hog")
#: The default (``Settings.people_detector``, ``facewarden eval counting --people``).
#: ``auto``, so NanoDet-m wherever ``make``/``.ci/run`` fetched its files: the
#: product counts people, and on sparse street scenes NanoDet-m's count is off
#: by 2.5 to 2.8 people a photo where HOG's is off by 6.5 to 12.1 (README). Its
#: price is on dense crowds: 159 of 1,426 counts stand on no annotated head
#: (hidden or unannotated heads, heads above the frame, doubles), where HOG
#: counts 398 with 1. No setting of either gives both (README), so ``hog``
#: stays one setting away for a deployment that wants almost no false counts.
DEFAULT_PEOPLE_DETECTOR = "auto"

#: The least MTCNN face probability a face needs to be counted as a person.
#: Detection keeps faces from 0.7 (recall matters: a face missed is never
#: identified); a count is a published figure, where a false face is worse than
#: a missed one. On 10 ShanghaiTech street crowds (benchmarks/counting.py):
#: 177 faces, 6 on no annotated head; from 0.95: 135 faces, none.
COUNTING_MIN_SCORE = 0.95

RGBImage = npt.NDArray[np.uint8]


class BodyDetector(Protocol):
    """Finds people's bodies: ``detect(image) -> list[Box]``, ``xyxy`` in the image's pixels."""

    @property
    def name(self) -> str:
        """Which detector (``hog``, ``nanodet-m``)."""
        ...

    def detect(self, image: RGBImage) -> list[Box]:
        """Boxes of the people in ``image``, strongest first."""
        ...


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
            with the pixels; the detector's window is 64x128 px). Ignored
            when ``min_height`` is given.
        min_height: the height in pixels of the smallest person to find. The
            image is scaled so such a person fills the 128 px window: up for
            an elevated camera whose people are 80-120 px tall (which the
            default would miss), down for a close one. None: ``max_width``.
        max_pixels: a cap on the scaled image (the cost of one frame).
        hit_threshold: the SVM margin a window needs; higher is stricter. At 0.5,
            3 windows fire on the 99 photos of ../shared/data/faces, none of
            which shows a standing person (22 at 0.0, 7 at 0.3).
        scale: the image-pyramid step.
        max_covered: a box whose area lies more than this fraction inside a
            stronger box is the same person (the detector fires on a person
            and again on a larger window around them).
    """

    max_width: int = 640
    min_height: float | None = None
    max_pixels: int = 2_000_000
    hit_threshold: float = 0.5
    scale: float = 1.05
    max_covered: float = 0.5
    name: str = "hog"

    def __post_init__(self) -> None:
        if self.min_height is not None and self.min_height <= 0:
            raise ValueError(f"min_height must be positive, got {self.min_height}")

    def factor(self, width: int, height: int) -> float:
        """How much an image of this size is scaled before detection."""
        if self.min_height is None:
            return min(1.0, self.max_width / width)
        wanted = _WINDOW_HEIGHT / self.min_height
        return float(min(wanted, (self.max_pixels / (width * height)) ** 0.5))

    def detect(self, image: RGBImage) -> list[Box]:
        """Boxes of the people in ``image`` (``xyxy`` in its pixels), strongest first."""
        import cv2

        height, width = image.shape[:2]
        factor = self.factor(width, height)
        scaled: npt.NDArray[Any] = image
        if factor != 1.0:
            size = (max(1, round(width * factor)), max(1, round(height * factor)))
            interpolation = cv2.INTER_AREA if factor < 1.0 else cv2.INTER_LINEAR
            scaled = cv2.resize(image, size, interpolation=interpolation)
        if scaled.shape[0] < _WINDOW_HEIGHT or scaled.shape[1] < _WINDOW_HEIGHT // 2:
            return []
        gray = cv2.cvtColor(np.ascontiguousarray(scaled), cv2.COLOR_RGB2GRAY)
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
            if all(_covered(box, other) <= self.max_covered for other in boxes):
                boxes.append(box)
        return boxes


_WINDOW_HEIGHT = 128  # the default people detector's window is 64 x 128 px


def _covered(a: Box, b: Box) -> float:
    """The fraction of the smaller box's area inside the other."""
    w = min(a.x_max, b.x_max) - max(a.x_min, b.x_min)
    h = min(a.y_max, b.y_max) - max(a.y_min, b.y_min)
    if w <= 0 or h <= 0:
        return 0.0
    return float(w * h / max(1e-9, min(a.area, b.area)))


_CACHE: dict[str, Any] = {}


def _detector() -> Any:
    if "hog" not in _CACHE:
        _CACHE["hog"] = _hog()
    return _CACHE["hog"]


def countable(faces: list[Face], min_score: float = COUNTING_MIN_SCORE) -> list[Box]:
    """The boxes of the faces sure enough to count as people.

    MTCNN's scores are face probabilities, held to ``min_score``; dlib's
    detectors score on their own scales and already stop at their operating
    point, so their faces all count.
    """
    return [
        f.box for f in faces if not f.detector.startswith("mtcnn") or f.detector_score >= min_score
    ]


def make_people_detector(
    kind: str = DEFAULT_PEOPLE_DETECTOR, folder: Path | None = None
) -> BodyDetector:
    """The body detector ``kind`` (one of :data:`PEOPLE_DETECTORS`).

    Args:
        kind: ``nanodet`` needs NanoDet's files; ``auto`` takes NanoDet when
            they are present and OpenCV's HOG detector otherwise, with a
            one-line notice; ``hog`` is OpenCV's.
        folder: where NanoDet's files are (default: the fetched copy,
            :func:`facewarden.convert.people_model.model_dir`).

    Raises:
        ConfigError: an unknown kind, or ``nanodet`` without its files.
        ModelError: NanoDet's files are present but not the pinned ones.
    """
    from facewarden.convert.people_model import model_dir, model_files

    if kind not in PEOPLE_DETECTORS:
        raise ConfigError(
            f"unknown people detector {kind!r}; choose one of: {', '.join(PEOPLE_DETECTORS)}"
        )
    if kind == "hog":
        return PeopleDetector()
    if model_files(folder) is None:
        if kind == "nanodet":
            raise ConfigError(
                f"NanoDet's files are not in {model_dir(folder)}; "
                "run scripts/fetch_people_model.py (make does)"
            )
        log.warning(
            "people detector: NanoDet's files are not in %s, counting bodies with OpenCV's HOG "
            "detector (run scripts/fetch_people_model.py)",
            model_dir(folder),
        )
        return PeopleDetector()
    from facewarden.convert.people_model import check_files
    from facewarden.vision.people_nanodet import NanodetPeopleDetector

    check_files(folder)
    return NanodetPeopleDetector(folder=folder)


def people_detector_for(settings: Settings) -> BodyDetector | None:
    """The deployment's body detector (``people_detector``), None when ``count_people`` is off.

    Raises:
        ConfigError: ``nanodet`` asked for without its files.
        ModelError: NanoDet's files are present but not the pinned ones.
    """
    if not settings.count_people:
        return None
    return make_people_detector(settings.people_detector, settings.people_model_dir)


def counted_bodies(faces: list[Box], bodies: list[Box]) -> list[Box]:
    """The bodies that count as people besides ``faces``.

    A body is the person of the first face whose centre lies in its upper half
    (a pedestrian box is padded around the person), so it adds no one. A body
    whose box is cut by the frame's top edge, with no face, is not counted:
    its head is out of view, and people are counted by their heads (as crowd
    annotations mark them). A body no taller than :data:`PART_FACE_HEIGHTS`
    times a face it touches (the face's box grown down by half its height) is
    a part of that face's person: on a close-up, NanoDet-m boxes the head
    alone and the shoulders alone, boxes whose upper half misses the face.
    """
    unmatched = list(faces)
    counted = []
    for body in bodies:
        x1, y1, x2 = body.x_min, body.y_min, body.x_max
        y2 = y1 + body.height / 2
        inside = [f for f in unmatched if x1 <= f.center[0] <= x2 and y1 <= f.center[1] <= y2]
        if inside:
            unmatched.remove(inside[0])
        elif body.y_min > _TOP_EDGE and not any(_part_of(body, face) for face in faces):
            counted.append(body)
    return counted


# A body box starting this close to the frame's top (in pixels) is cut by it.
_TOP_EDGE = 1.0

#: The tallest body, in heights of a face it touches, that is a part of that
#: face's person rather than someone else. A whole person standing at the
#: face's distance is about 7 face heights tall; a head box is about 1, a
#: head and shoulders about 2 (face_recognition's obama2.jpg: 1.0, its
#: two_people.jpg: 1.9 to 2.0). Set from those proportions, then measured
#: (README): on the crowds it removes 5 of 1,431 counts (3 on no annotated head).
PART_FACE_HEIGHTS = 2.5


def _part_of(body: Box, face: Box) -> bool:
    """Whether ``body`` is a part of ``face``'s person (:data:`PART_FACE_HEIGHTS`)."""
    if body.height > PART_FACE_HEIGHTS * face.height:
        return False
    below = face.y_max + face.height / 2
    return (
        body.x_min <= face.x_max
        and face.x_min <= body.x_max
        and body.y_min <= below
        and face.y_min <= body.y_max
    )


def count_people(faces: list[Box], bodies: list[Box]) -> int:
    """People in view: every face, plus every body :func:`counted_bodies` keeps."""
    return len(faces) + len(counted_bodies(faces, bodies))
