"""Face detectors behind one small protocol.

* :class:`~facewarden.vision.mtcnn_detect.MtcnnDetector`: the default. MTCNN
  on ONNX Runtime, trained on WIDER FACE: finds faces down to a configurable
  minimum size (20 px by default) in real scenes and camera frames.
* :class:`FirstFound`: detectors tried in order until one finds a face
  (both modes: MTCNN with quarter turns, :mod:`~facewarden.vision.orientation`,
  then the search for a face filling the image,
  :mod:`~facewarden.vision.tight_crops`; accurate mode: then the HOG/CNN
  cascade).
* :class:`HogDetector`: dlib's HOG + linear SVM. Fast (about 6 ms on a
  250x250 image, 100 ms per megapixel without upsampling), finds frontal
  faces of 80 px and more at the scale it runs at.
* :class:`CnnDetector`: dlib's MMOD CNN. Finds harder faces (profile, poor
  light) but costs about 5 s per megapixel on this class of CPU.
* :class:`CascadeDetector`: fits the detector's cost to the
  image: HOG at a scale that keeps the work bounded, HOG again with
  upsampling only where the image may hold faces too small for the first
  pass, and the CNN only where HOG found nothing at all. See its docstring
  for the measurements behind the defaults.

Detectors are small picklable configuration objects; the dlib models they
use are loaded lazily, once per process (:mod:`facewarden.models`), so a
detector can be sent to worker processes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from PIL import Image

from facewarden import models
from facewarden.errors import ConfigError
from facewarden.types import Box, Face
from facewarden.vision.landmarks import fit_landmarks
from facewarden.vision.mtcnn_detect import MtcnnDetector
from facewarden.vision.onnx_detect import OnnxMmodDetector

__all__ = [
    "DETECTORS",
    "MTCNN",
    "CascadeDetector",
    "CnnDetector",
    "Detector",
    "FirstFound",
    "HogDetector",
    "MtcnnDetector",
    "make_detector",
]

RGBImage = npt.NDArray[np.uint8]


@runtime_checkable
class Detector(Protocol):
    """Finds faces in an RGB image and returns them with 5 landmarks each."""

    @property
    def name(self) -> str:
        """The name faces carry as their ``detector``."""
        ...

    def detect(self, image: RGBImage) -> list[Face]:
        """Faces in ``image`` (H, W, 3 uint8 RGB), best score first."""
        ...


def _resize(image: RGBImage, scale: float) -> RGBImage:
    if scale == 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # BILINEAR with reducing_gap keeps downscaling both fast and alias-free.
    resized = Image.fromarray(image).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(resized)


def _clip_box(rect: Any, scale: float, width: int, height: int) -> Box | None:
    """A dlib rectangle found at ``scale`` as a Box in original pixels, clipped to the image."""
    x_min = max(0.0, rect.left() / scale)
    y_min = max(0.0, rect.top() / scale)
    x_max = min(float(width), (rect.right() + 1) / scale)
    y_max = min(float(height), (rect.bottom() + 1) / scale)
    if x_max - x_min < 2 or y_max - y_min < 2:
        return None
    return Box(x_min, y_min, x_max, y_max)


def _faces(
    image: RGBImage, found: list[tuple[Any, float]], scale: float, detector: str
) -> list[Face]:
    height, width = image.shape[:2]
    faces = []
    for rect, score in found:
        box = _clip_box(rect, scale, width, height)
        if box is not None:
            faces.append(Face(box, fit_landmarks(image, box), float(score), detector))
    faces.sort(key=lambda f: f.detector_score, reverse=True)
    return faces


@dataclass(frozen=True)
class HogDetector:
    """dlib's HOG detector.

    Attributes:
        upsample: how many times dlib doubles the image before searching; each
            doubling finds faces half as small for four times the cost.
        scale: resize the image by this factor before searching (below 1 to
            bound the cost on large images).
        adjust_threshold: added to the SVM threshold; negative finds more faces.
    """

    upsample: int = 0
    scale: float = 1.0
    adjust_threshold: float = 0.0
    name: str = "hog"

    def detect(self, image: RGBImage) -> list[Face]:
        return _faces(image, self.raw(image), self.scale, self.name)

    def raw(self, image: RGBImage) -> list[tuple[Any, float]]:
        """dlib rectangles (in the scaled image) with their scores."""
        work = _resize(image, self.scale)
        rects, scores, _ = _hog().run(work, self.upsample, self.adjust_threshold)
        return list(zip(rects, scores, strict=True))


@dataclass(frozen=True)
class CnnDetector:
    """dlib's MMOD CNN detector; slow on CPU, finds what HOG misses."""

    upsample: int = 0
    scale: float = 1.0
    min_confidence: float = 0.0
    name: str = "cnn"

    def detect(self, image: RGBImage) -> list[Face]:
        return _faces(image, self.raw(image), self.scale, self.name)

    def raw(self, image: RGBImage) -> list[tuple[Any, float]]:
        work = _resize(image, self.scale)
        found = models.load("mmod_detector")(work, self.upsample)
        return [(d.rect, d.confidence) for d in found if d.confidence >= self.min_confidence]


@dataclass(frozen=True)
class CascadeDetector:
    """HOG fitted to the image, with upsampling and the CNN only where needed.

    Pass 1 runs HOG on the image scaled down to at most ``max_pixels`` (it is
    never scaled up here), finding faces of 80 px and more at that scale.

    Pass 2 runs HOG with one upsampling (faces down to about 40 px) when pass 1
    may have missed small faces: it found nothing, or its smallest face is
    below ``portrait_fraction`` of the image's short side (a group or crowd
    scene, not a portrait). It is skipped when the upsampled image would
    exceed ``max_upsampled_pixels``. On a 250x250 portrait this saves 18 ms
    of a 24 ms HOG pass; on dlib's 500x375 group photos, whose annotated
    faces are 37 to 109 px, it finds the small faces pass 1 cannot.

    Pass 3 runs the MMOD CNN only where HOG found nothing, on the image scaled
    down to at most ``cnn_max_pixels``. ``cnn_backend`` picks dlib's own
    implementation (about 5 s per megapixel here) or the same network
    converted to ONNX (identical boxes, about 0.8 s per megapixel: the
    default). ``cnn_max_pixels=0`` turns the fallback off.
    """

    max_pixels: int = 2_100_000
    max_upsampled_pixels: int = 1_300_000
    portrait_fraction: float = 0.25
    cnn_max_pixels: int = 120_000
    cnn_backend: Literal["onnx", "dlib"] = "onnx"
    name: str = "cascade"

    def detect(self, image: RGBImage) -> list[Face]:
        height, width = image.shape[:2]
        pixels = height * width
        scale = min(1.0, (self.max_pixels / pixels) ** 0.5)
        faces = HogDetector(scale=scale).detect(image)
        small = min(height, width) * scale * self.portrait_fraction
        needs_small_faces = not faces or min(f.box.width for f in faces) * scale < small
        if needs_small_faces and pixels * 4 <= self.max_upsampled_pixels:
            # The upsampled pyramid covers every scale of pass 1, so its
            # result replaces pass 1 rather than being merged with it.
            faces = HogDetector(upsample=1).detect(image)
        if not faces and self.cnn_max_pixels > 0:
            cnn_scale = min(1.0, (self.cnn_max_pixels / pixels) ** 0.5)
            cnn: Detector = (
                OnnxMmodDetector(scale=cnn_scale)
                if self.cnn_backend == "onnx"
                else CnnDetector(scale=cnn_scale)
            )
            faces = cnn.detect(image)
        return faces


@dataclass(frozen=True)
class FirstFound:
    """Detectors tried in order: the faces of the first one that finds any.

    Attributes:
        detectors: the detectors, most wanted first.
        name: this combination's name (faces keep their own detector's name).
    """

    detectors: tuple[Detector, ...]
    name: str = "first-found"

    def detect(self, image: RGBImage) -> list[Face]:
        for detector in self.detectors:
            faces = detector.detect(image)
            if faces:
                return faces
        return []

    def detect_many(self, images: Sequence[RGBImage]) -> list[list[Face]]:
        """:meth:`detect` on each image: each detector on the images still without a face.

        A detector that finds several images' faces at once for less (MTCNN's
        ``detect_many``) is handed them together.
        """
        found: list[list[Face]] = [[] for _ in images]
        waiting = list(range(len(images)))
        for detector in self.detectors:
            if not waiting:
                break
            batch = [images[i] for i in waiting]
            many = getattr(detector, "detect_many", None)
            results = many(batch) if callable(many) else [detector.detect(im) for im in batch]
            for i, faces in zip(waiting, results, strict=True):
                found[i] = faces
            waiting = [i for i in waiting if not found[i]]
        return found


_per_thread = threading.local()


def _hog() -> Any:
    # One per thread: dlib's HOG detector keeps scratch buffers in the object,
    # and two threads running the same one corrupt the heap (the server runs
    # requests in a thread pool). Building one takes a few milliseconds.
    detector = getattr(_per_thread, "hog", None)
    if detector is None:
        import dlib

        detector = _per_thread.hog = dlib.get_frontal_face_detector()
    return detector


#: The ``mtcnn`` preset, typed as what it is (both modes wrap it in quarter turns).
#: P-Net's bar at 0.7 (the paper's 0.6 sends about 55 windows of an LFW image to
#: R-Net, 42 at 0.7, 3 of which pass) and the pyramid's small levels made from
#: larger levels: about 1.5 ms less per LFW image (R-Net, its crops, the pyramid)
#: for 3 of 625 faces on wider-dev (recall >= 20 px 0.821 to 0.816, AP50 0.817 to
#: 0.813, false positives per image 0.50 to 0.47) and the same LFW fold accuracy.
MTCNN = MtcnnDetector(thresholds=(0.7, 0.7, 0.7), reuse_levels=True)

#: Named detector presets; ``make_detector`` picks from these.
DETECTORS: dict[str, Detector] = {
    "mtcnn": MTCNN,
    "mtcnn-thorough": MtcnnDetector(
        thresholds=(0.4, 0.6, 0.7), scale_step=0.76, name="mtcnn-thorough"
    ),
    "hog": HogDetector(),
    "hog-upsample": HogDetector(upsample=1, name="hog-upsample"),
    "cnn": CnnDetector(),
    "cascade": CascadeDetector(),
    "cascade-thorough": CascadeDetector(cnn_max_pixels=1_000_000, name="cascade-thorough"),
    "onnx-cnn": OnnxMmodDetector(),
}


def make_detector(name: str) -> Detector:
    """The detector preset called ``name``.

    Raises:
        ConfigError: no such preset; the message lists the choices.
    """
    try:
        return DETECTORS[name]
    except KeyError:
        choices = ", ".join(sorted(DETECTORS))
        raise ConfigError(f"unknown detector {name!r}; choose one of: {choices}") from None
