"""Faces as CompreFace's API sees them: detection probability, selection, plugins.

* ``box.probability`` (:func:`detection_probability`) is on CompreFace's
  scale. A face found by MTCNN (the detector CompreFace's FaceNet build
  uses) carries O-Net's own probability. A face found by one of dlib's
  detectors, which give a margin rather than a probability, scores 0.85
  exactly at the detector's threshold (the default ``det_prob_threshold``
  of CompreFace's FaceNet detector, so a face CompreFace keeps at its
  default is a face here too) and 0.98 and more when clear: a logistic of
  the margin, not a measured probability. Faces passed with
  ``detect_faces=false`` (the image is the face) score 1.0.
* :func:`find_faces` detects (or, with ``detect_faces=false``, takes the
  whole image as one face), keeps faces strictly over ``det_prob_threshold``
  (0.85 when not sent, CompreFace's FaceNet default: an MTCNN face at or
  under it is not a face, as on CompreFace; a cropped face is held to that
  default whatever the request sends, as CompreFace holds it) and keeps the
  biggest ``limit``. Faces about to be matched (recognize, both verifies)
  must also clear the pipeline's quality bar (size, sharpness, light, pose),
  as on facewarden's own API: under it, strangers' similarities overlap the
  same person's and the calibrated scale does not hold. CompreFace matches
  every face it detects, but it detects on the photo brought down to 640 px
  (its ``IMG_LENGTH_LIMIT``), so it misses most such faces of a large photo.
* Face plugins: ``landmarks`` (CompreFace's 5 points: eye centres, nose tip,
  mouth corners; :func:`~facewarden.vision.landmarks.fit_mtcnn_points`), ``calculator`` (the
  model's own embedding, before the deployment's secret transform) and
  ``pose`` (:func:`head_pose`, CompreFace's own estimate from those 5 points). Plugins the
  deployment does not run (``age``, ``gender``, ``mask``, anything else) are
  skipped without an error, as CompreFace skips plugins that are not
  enabled on a server.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from facewarden.errors import FaceNotFoundError
from facewarden.types import Face
from facewarden.vision.landmarks import fit_mtcnn_points
from facewarden.vision.pipeline import Pipeline, RGBImage

__all__ = [
    "AVAILABLE_PLUGINS",
    "DEFAULT_MIN_PROBABILITY",
    "NO_FACE",
    "NO_USABLE_FACE",
    "FoundFace",
    "HeadPose",
    "Plugins",
    "detection_probability",
    "find_faces",
    "head_pose",
    "select_faces",
]

NO_FACE = "No face is found in the given image"
NO_USABLE_FACE = "No usable face is found in the given image"

#: The face plugins this deployment runs (CompreFace's slugs).
AVAILABLE_PLUGINS = ("calculator", "landmarks", "pose")

DEFAULT_MIN_PROBABILITY = 0.85
"""``det_prob_threshold`` when a request sends none: CompreFace's FaceNet detector's default."""

# ln(0.85 / 0.15): a face at a dlib detector's threshold (margin 0) scores 0.85.
_PROBABILITY_OFFSET = math.log(DEFAULT_MIN_PROBABILITY / (1 - DEFAULT_MIN_PROBABILITY))


def detection_probability(face: Face) -> float:
    """CompreFace's ``box.probability`` for a face (see the module docstring)."""
    if face.detector == "cropped":
        return 1.0
    if face.detector.startswith("mtcnn"):  # O-Net's probability: CompreFace's own scale
        return float(min(1.0, max(0.0, face.detector_score)))
    return float(1.0 / (1.0 + np.exp(-(2.0 * face.detector_score + _PROBABILITY_OFFSET))))


def select_faces(faces: list[Face], *, limit: int, min_probability: float | None) -> list[Face]:
    """Faces over ``min_probability`` (default :data:`DEFAULT_MIN_PROBABILITY`),
    biggest first, at most ``limit`` (0: all).

    Strictly over, as CompreFace's detectors filter (a box whose probability
    is at or under ``det_prob_threshold`` is dropped).
    """
    floor = DEFAULT_MIN_PROBABILITY if min_probability is None else min_probability
    kept = [f for f in faces if detection_probability(f) > floor]
    kept.sort(key=lambda f: f.box.area, reverse=True)
    return kept[:limit] if limit > 0 else kept


def find_faces(
    pipeline: Pipeline,
    pixels: RGBImage,
    *,
    limit: int = 0,
    min_probability: float | None = None,
    detect_faces: bool = True,
    embed: bool = True,
    required: bool = True,
    usable_only: bool = False,
    times: dict[str, float] | None = None,
) -> list[Face]:
    """The faces of decoded ``pixels`` as CompreFace's parameters select them.

    With ``usable_only`` (faces about to be matched) only faces that clear the
    pipeline's quality bar count: the similarity of a face under it does not
    mean what the calibration says (see the module docstring). Only the faces
    returned are embedded (with ``embed``), after they are picked.

    Args:
        times: filled, when given, with each face's share of the time the
            ``detector`` took (the detection, shared among the faces over the
            threshold, as CompreFace shares it) and, with ``embed``, of the time
            the ``calculator`` took (one batch for the faces returned), in ms.

    Raises:
        FaceNotFoundError: none (over ``min_probability``) and ``required``, in
            CompreFace's words whichever photo of a request it is (clients match
            them); or, with ``usable_only``, faces but none fit for recognition,
            with the biggest one's reasons.
    """
    started = time.perf_counter()
    if detect_faces:
        found = pipeline.run(pixels, embed=False)
    else:
        found = [pipeline.run_cropped(pixels, embed=False)]
        # CompreFace checks a face it did not detect against the detector's default,
        # whatever the request's threshold: its probability of 1.0 always passes.
        min_probability = None
    detecting = _elapsed_ms(started)
    faces = select_faces(found, limit=0, min_probability=min_probability)
    detected = len(faces)
    if usable_only and faces and not any(f.usable for f in faces) and required:
        raise FaceNotFoundError(_no_usable_face(faces[0]))
    if usable_only:
        faces = [f for f in faces if f.usable]
    faces = faces[:limit] if limit > 0 else faces
    if not faces and required:
        raise FaceNotFoundError(NO_FACE)
    started = time.perf_counter()
    if embed:
        faces = pipeline.embed_faces(pixels, faces)
    embedding = _elapsed_ms(started)
    if times is not None:
        times["detector"] = detecting / max(1, detected)
        if embed:
            times["calculator"] = embedding / max(1, len(faces))
    return faces


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _no_usable_face(face: Face) -> str:
    reasons = face.quality.reasons if face.quality is not None else ()
    return f"{NO_USABLE_FACE}: " + "; ".join(reasons)


@dataclass(frozen=True)
class Plugins:
    """The face plugins a request asked for, among those this deployment runs."""

    landmarks: bool = False
    calculator: bool = False
    pose: bool = False

    @classmethod
    def parse(cls, text: str) -> Plugins:
        """``face_plugins`` as sent (comma-separated slugs); unknown slugs are skipped."""
        asked = {slug.strip().lower() for slug in text.split(",")}
        return cls(**{name: name in asked for name in AVAILABLE_PLUGINS})


@dataclass(frozen=True)
class HeadPose:
    """A head pose in degrees, on CompreFace's axes (see :func:`head_pose`).

    ``roll`` is positive for a head tilted counter-clockwise in the image.
    """

    pitch: float
    roll: float
    yaw: float


# CompreFace's pose plugin (its PoseEstimatorMixin) fits this 3-D face model,
# in its own units: the eyes, the nose tip, the mouth corners, and a chin.
_FACE_MODEL = np.array(
    [
        [-8.0, 9.0, -8.0],
        [8.0, 9.0, -8.0],
        [0.0, 1.0, 0.0],
        [-5.0, -4.0, -8.0],
        [5.0, -4.0, -8.0],
        [0.0, -11.0, -4.0],
    ]
)


def head_pose(points: Sequence[tuple[float, float]], image_shape: tuple[int, ...]) -> HeadPose:
    """The head pose CompreFace's pose plugin computes from its five landmarks.

    As CompreFace does: the landmarks in whole pixels; a chin placed half the
    eyes-to-mouth distance below the mouth's centre; the 3-D model fitted by
    OpenCV's PnP under a pinhole camera whose focal length is the image's
    width and whose principal point it takes as (height / 2, width / 2); the
    rotation's RQ decomposition gives the angles, pitch and roll measured
    from the other side (180 degrees minus the angle, signed). CompreFace's
    clients read these numbers, so every step is its own (its principal
    point too). A rough estimate: five points and a made-up chin.
    """
    left_eye, right_eye, nose, mouth_left, mouth_right = np.round(
        np.asarray(points, dtype=np.float64)
    ).astype(np.int64)
    bridge = (left_eye + right_eye) // 2
    mouth = (mouth_left + mouth_right) // 2
    chin = mouth + (mouth - bridge) // 2
    image_points = np.array(
        [left_eye, right_eye, nose, mouth_left, mouth_right, chin], dtype=np.float64
    )
    height, width = image_shape[:2]
    camera = np.array(
        [[width, 1.0, height / 2], [0.0, width, width / 2], [0.0, 0.0, 1.0]], dtype=np.float64
    )
    _, rotation_vector, _ = cv2.solvePnP(_FACE_MODEL, image_points, camera, np.zeros((4, 1)))
    rotation, _ = cv2.Rodrigues(rotation_vector)
    pitch, yaw, roll = cv2.RQDecomp3x3(rotation)[0]
    return HeadPose(
        pitch=round(float(np.sign(pitch) * 180 - pitch), 2),
        roll=round(float(np.sign(roll) * 180 - roll), 2),
        yaw=round(float(yaw), 2),
    )


@dataclass(frozen=True)
class FoundFace:
    """A detected face with its detection probability (see :func:`detection_probability`),
    MTCNN's five points when the landmarks or pose plugin asked for them, and the time
    each plugin took on it (ms by CompreFace's slug: ``detector``, ``calculator``, ``pose``).
    """

    face: Face
    probability: float
    points: tuple[tuple[float, float], ...] | None = None
    pose: HeadPose | None = None
    execution_time: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        face: Face,
        *,
        image: RGBImage | None = None,
        pose: bool = False,
        times: Mapping[str, float] | None = None,
    ) -> FoundFace:
        """The face with its probability; given the image it was found in, with its five
        points (:func:`~facewarden.vision.landmarks.fit_mtcnn_points`) and, if asked, its
        pose (:func:`head_pose`).

        ``times`` are the face's shares of the detection and embedding
        (:func:`find_faces`); fitting the five points counts as the detector's,
        as CompreFace's detector gives them, and the pose as the pose plugin's.
        """
        spent = dict(times or {})
        if image is None:
            return cls(face, detection_probability(face), execution_time=spent)
        started = time.perf_counter()
        points = tuple((float(x), float(y)) for x, y in fit_mtcnn_points(image, face))
        spent["detector"] = spent.get("detector", 0.0) + _elapsed_ms(started)
        turned = None
        if pose:
            started = time.perf_counter()
            turned = head_pose(points, image.shape)
            spent["pose"] = _elapsed_ms(started)
        return cls(face, detection_probability(face), points, turned, spent)
