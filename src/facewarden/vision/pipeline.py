"""Image in, faces out: detection, alignment, quality and embedding in one place.

``Pipeline(detector, embedder, ...)`` is built by constructor injection;
:data:`MODES` names the two presets every command chooses between:

Both use dlib's networks run by ONNX Runtime (converted from the wheel's
own weight files on first use); ``from_mode(mode, backend="dlib")`` runs
dlib itself, the reference, with the same results.

* ``fast``: the small-face detector (MTCNN on ONNX Runtime, faces from
  20 px, :class:`~facewarden.vision.mtcnn_detect.MtcnnDetector`, searching
  the photo turned by quarter turns where no upright face is clear, for faces
  fit to recognise only, :class:`~facewarden.vision.orientation.QuarterTurns`;
  where it finds nothing, the faces that fill the image,
  :class:`~facewarden.vision.tight_crops.TightCrops`) and each
  embedding averaged with that of the mirrored chip (two embeddings per
  face, about 6 ms more CPU than one). For video, the API and bulk work.
* ``accurate``: the same detector, searching the photo turned by quarter
  turns too where no upright face is clear (a phone photo whose EXIF turn
  was lost, :class:`~facewarden.vision.orientation.QuarterTurns`), the
  HOG/CNN cascade where it finds nothing,
  and each embedding averaged over ten views of the aligned chip: the chip,
  its mirror and eight jittered copies (:func:`~facewarden.vision.align.jittered`,
  dlib's own recipe for its published LFW figure). It costs ten embeddings
  per face and is worth it where a photo is enrolled or a decision rests on
  one image (see the README for the LFW figures and how they were measured).

:func:`~facewarden.vision.batch.run_batch` spreads many images over worker
processes (one per core by default), each loading the models once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from facewarden import imaging
from facewarden.errors import ConfigError, ImageError, ImageTooLargeError
from facewarden.types import Box, Face
from facewarden.vision.align import align, jittered, mirror
from facewarden.vision.detect import (
    DETECTORS,
    MTCNN,
    CascadeDetector,
    Detector,
    FirstFound,
)
from facewarden.vision.embed import DlibResnetEmbedder, Embedder, l2_normalise
from facewarden.vision.landmarks import fit_landmarks
from facewarden.vision.onnx_embed import OnnxResnetEmbedder
from facewarden.vision.orientation import QuarterTurns
from facewarden.vision.quality import QualityPolicy, assess
from facewarden.vision.tight_crops import TightCrops

__all__ = [
    "MAX_JITTERS",
    "MODES",
    "Embed",
    "Mode",
    "Pipeline",
    "central_face",
    "is_usable",
]

RGBImage = npt.NDArray[np.uint8]
Mode = Literal["fast", "accurate"]
Source = str | os.PathLike[str] | bytes | RGBImage
#: Which faces to embed: all (True), none (False), or those a predicate chooses.
Embed = bool | Callable[[Face], bool]


def is_usable(face: Face) -> bool:
    """An ``embed`` predicate: only the faces fit for recognition.

    Identification matches nothing else (an unusable face is reported with
    its reasons), so embedding the others would be wasted: two ResNet views
    each in ``fast`` mode, ten in ``accurate``. A module-level function, so
    that :func:`~facewarden.vision.batch.run_batch` can hand it to its worker
    processes.
    """
    return face.usable


@dataclass(frozen=True)
class Pipeline:
    """Detect, align, assess and embed the faces of one image.

    Attributes:
        detector: finds faces with landmarks.
        embedder: turns aligned chips into unit vectors.
        quality: the bar for a face to count as usable.
        mirror: average each embedding with that of the mirrored chip
            (more accurate, twice the embedding cost).
        jitters: also average in this many jittered copies of the chip
            (:func:`~facewarden.vision.align.jittered`; one embedding each).
        limits: the safe-decoding caps applied to every input.
    """

    detector: Detector = field(default_factory=lambda: SMALL_FACES)
    embedder: Embedder = field(default_factory=OnnxResnetEmbedder)
    quality: QualityPolicy = field(default_factory=QualityPolicy)
    mirror: bool = False
    jitters: int = 0
    limits: imaging.ImageLimits = imaging.DEFAULT_LIMITS

    def __post_init__(self) -> None:
        if not 0 <= self.jitters <= MAX_JITTERS:
            raise ConfigError(f"jitters must be 0 to {MAX_JITTERS}, got {self.jitters}")

    @classmethod
    def from_mode(cls, mode: str, *, backend: str = "onnx") -> Pipeline:
        """The preset pipeline called ``mode`` (``fast`` or ``accurate``).

        Args:
            mode: ``fast`` or ``accurate``.
            backend: ``onnx`` (dlib's networks converted to ONNX Runtime: the
                same results, about 20x faster embeddings) or ``dlib`` (dlib
                itself, the reference).

        Raises:
            ConfigError: unknown mode or backend.
        """
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; choose one of: onnx, dlib")
        try:
            preset = MODES[mode]
        except KeyError:
            raise ConfigError(f"unknown mode {mode!r}; choose one of: fast, accurate") from None
        if backend == "onnx":
            return preset
        detector = preset.detector
        if isinstance(detector, FirstFound):
            detector = dataclasses.replace(
                detector, detectors=tuple(_dlib_backend(d) for d in detector.detectors)
            )
        detector = _dlib_backend(detector)
        return dataclasses.replace(preset, detector=detector, embedder=DlibResnetEmbedder())

    def decode(self, source: Source, *, name: str | None = None) -> RGBImage:
        """Decode ``source`` safely with this pipeline's limits."""
        return imaging.decode(source, limits=self.limits, name=name)

    def run(self, image: RGBImage, *, embed: Embed = True) -> list[Face]:
        """Every face in ``image`` with its quality and its embedding.

        Args:
            image: the RGB image, of at most ``limits.max_pixels`` pixels (as an
                upload is).
            embed: embed every face (True), none (False), or those a predicate
                chooses: it is given each face with its quality verdict (a camera
                embeds only the faces its tracks need, identification only the
                usable ones, :func:`is_usable`: embeddings are most of the cost).

        Raises:
            ImageTooLargeError: over ``limits.max_pixels``.
            ImageError: not a ``(H, W, 3)`` ``uint8`` array.
        """
        return self.run_many([image], embed=embed)[0]

    def run_many(self, images: Iterable[RGBImage], *, embed: Embed = True) -> list[list[Face]]:
        """The faces of each image, as :meth:`run` finds them, embedded in one batch.

        The same faces and embeddings as :meth:`run` on each image (ONNX
        Runtime computes each view the same in any batch), for less: dlib's
        ResNet costs about 5.0 ms a view in batches of 8 or more against 5.6 ms
        in the batch of 2 that one face and its mirror make.
        :func:`~facewarden.vision.batch.run_batch` hands each worker's chunk of
        images here.
        """
        found = [
            self._assessed(image, faces)
            for group in _groups((_checked(i, self.limits) for i in images), _GROUP_PIXELS)
            for image, faces in zip(group, self._detect_many(group), strict=True)
        ]
        wanted = [
            (i, j)
            for i, (faces, _) in enumerate(found)
            for j, face in enumerate(faces)
            if embed is True or (embed is not False and embed(face))
        ]
        if wanted:
            embeddings = self.embed_chips([found[i][1][j] for i, j in wanted])
            for (i, j), embedding in zip(wanted, embeddings, strict=True):
                found[i][0][j] = found[i][0][j].with_embedding(embedding)
        return [faces for faces, _ in found]

    def _detect_many(self, images: list[RGBImage]) -> list[list[Face]]:
        # An array below decoding's smallest side holds no face; decoding refuses
        # such images, but arrays reach run() without it, and the detectors'
        # windows do not fit them (the cascade divides by the pixel count, the
        # CNN's convolutions refuse a 5x5 input).
        searched = [
            i for i, image in enumerate(images) if min(image.shape[:2]) >= self.limits.min_side
        ]
        found: list[list[Face]] = [[] for _ in images]
        if not searched:
            return found
        # A detector that finds the faces of several images at once for less
        # (MTCNN: its landmark fits in a row) says so with a detect_many method.
        detect_many = getattr(self.detector, "detect_many", None)
        if callable(detect_many):
            faces: list[list[Face]] = detect_many([images[i] for i in searched])
        else:
            faces = [self.detector.detect(images[i]) for i in searched]
        for i, image_faces in zip(searched, faces, strict=True):
            found[i] = image_faces
        return found

    def _assessed(self, image: RGBImage, faces: list[Face]) -> tuple[list[Face], list[RGBImage]]:
        """``faces`` of ``image`` with their quality verdicts, and their aligned chips."""
        chips = [self._chip(image, f) for f in faces]
        faces = [
            f.with_quality(assess(f.box, f.landmarks, chip, self.quality))
            for f, chip in zip(faces, chips, strict=True)
        ]
        return faces, chips

    def run_cropped(self, image: RGBImage, *, embed: Embed = True) -> Face:
        """The whole of ``image`` as one face, without detection (a photo cropped to a face).

        The face's box is the image, its landmarks are placed in that box,
        its ``detector`` is ``cropped`` and its detector score 0. ``embed`` as
        for :meth:`run`.
        """
        image = _checked(image, self.limits)
        height, width = image.shape[:2]
        box = Box(0.0, 0.0, float(width), float(height))
        face = Face(box, fit_landmarks(image, box), 0.0, "cropped")
        chip = self._chip(image, face)
        face = face.with_quality(assess(face.box, face.landmarks, chip, self.quality))
        wanted = embed is True or (embed is not False and embed(face))
        return face.with_embedding(self.embed_chips([chip])[0]) if wanted else face

    def embed_faces(self, image: RGBImage, faces: Sequence[Face]) -> list[Face]:
        """``faces`` of ``image`` (as :meth:`run` or :meth:`run_cropped` found them, without
        embeddings) with their embeddings, in one batch.

        The same embeddings as ``run(image)`` gives them: a caller that picks
        faces first (the biggest few, those over a threshold) embeds only those,
        and can time detection and embedding apart.
        """
        image = _checked(image, self.limits)
        if not faces:
            return []
        embeddings = self.embed_chips([self._chip(image, face) for face in faces])
        return [f.with_embedding(e) for f, e in zip(faces, embeddings, strict=True)]

    def _chip(self, image: RGBImage, face: Face) -> RGBImage:
        # An embedder trained on another crop (ArcFace's 112 px template)
        # brings its own alignment; dlib's networks use dlib's chips.
        own_alignment = getattr(self.embedder, "align", None)
        if callable(own_alignment):
            chip: RGBImage = own_alignment(image, face.landmarks)
            return chip
        return align(
            image, face.landmarks, size=self.embedder.chip_size, padding=self.embedder.chip_padding
        )

    def embed_chips(self, chips: list[RGBImage]) -> npt.NDArray[np.float32]:
        """Embeddings of aligned chips, averaged over the views this pipeline asks for.

        Each chip's views are the chip, its mirror when ``mirror`` is set, and
        ``jitters`` jittered copies; all views of all chips go to the embedder
        as one batch, and each chip's unit vectors are summed and renormalised.
        """
        views = [self._views(chip) for chip in chips]
        per_chip = len(views[0]) if views else 1
        if per_chip == 1:
            return self.embedder.embed(chips)
        flat = [view for chip_views in views for view in chip_views]
        vectors = self.embedder.embed(flat)
        summed = vectors.reshape(len(chips), per_chip, -1).sum(axis=1)
        return l2_normalise(summed)

    def _views(self, chip: RGBImage) -> list[RGBImage]:
        views = [chip]
        if self.mirror:
            views.append(mirror(chip))
        if self.jitters:
            views.extend(jittered(chip, self.jitters))
        return views


#: Images detected together by :meth:`Pipeline.run_many` hold at most this many
#: pixels between them (a chunk of LFW's 250x250 images fits; a 40 MP photo goes
#: alone), so a chunk of large photos is never all in memory at once.
_GROUP_PIXELS = 4_000_000


def _checked(image: object, limits: imaging.ImageLimits) -> RGBImage:
    """``image`` if it is an RGB array (any layout) within the pixel cap, else an ImageError.

    An array is capped as an upload is: a caller's huge frame (or a broadcast
    view with no memory behind it) would otherwise go whole through detection,
    whose buffers grow with the pixels.
    """
    if isinstance(image, np.ndarray) and image.shape[2:] == (3,) and image.dtype == np.uint8:
        height, width = image.shape[:2]
        if height * width > limits.max_pixels:
            raise ImageTooLargeError(
                f"image is {width}x{height} pixels, over the limit of {limits.max_pixels}"
            )
        return image
    wanted = "run() takes an RGB image as a (H, W, 3) uint8 numpy array"
    if not isinstance(image, np.ndarray):
        advice = ""
        if isinstance(image, str | os.PathLike | bytes | bytearray | memoryview):
            advice = ": decode a file with pipeline.decode(...) or imaging.decode(...) first"
        raise ImageError(f"{wanted}, got a {type(image).__name__}{advice}")
    convertible = (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))) and (
        image.dtype.kind == "f" or image.dtype in (np.uint8, np.uint16)
    )
    advice = "; convert it with imaging.to_rgb(array)" if convertible else ""
    raise ImageError(f"{wanted}, got shape {image.shape} {image.dtype}{advice}")


def _groups(images: Iterable[RGBImage], max_pixels: int) -> Iterator[list[RGBImage]]:
    """Consecutive images in lists of at most ``max_pixels`` pixels (or of one larger image)."""
    group: list[RGBImage] = []
    pixels = 0
    for image in images:
        size = image.shape[0] * image.shape[1]
        if group and pixels + size > max_pixels:
            yield group
            group, pixels = [], 0
        group.append(image)
        pixels += size
    if group:
        yield group


#: More jitters than this buy nothing measurable (dlib's own figure uses 100)
#: and would let one request cost hundreds of embeddings per face.
MAX_JITTERS = 100

BACKENDS = ("onnx", "dlib")


def _dlib_backend(detector: Detector) -> Detector:
    # MTCNN exists only on ONNX Runtime; the cascade's CNN fallback has a dlib twin.
    if isinstance(detector, CascadeDetector):
        return dataclasses.replace(detector, cnn_backend="dlib")
    return detector


#: ``fast`` mode's detector: MTCNN, searching the photo turned by quarter turns
#: (:mod:`~facewarden.vision.orientation`) for faces big enough to recognise where
#: it finds no face, or where no upright face is clear and one of them looks
#: turned; and where it finds no face, the faces that fill the image (a photo
#: cropped tight to a face, :mod:`~facewarden.vision.tight_crops`).
SMALL_FACES: Detector = FirstFound(
    (
        QuarterTurns(MTCNN, least_face=QualityPolicy().min_face_px, standing_bar=0.9),
        TightCrops(MTCNN),
    ),
    name="mtcnn",
)

MODES: dict[str, Pipeline] = {
    # One view measured 98.83% on the LFW fold with MTCNN's boxes (99.00% with
    # HOG's): at the noise floor of dlib's single-view 99.13%. The mirror is
    # the cheapest view that lifts it clear (99.17%); see the README.
    "fast": Pipeline(mirror=True),
    "accurate": Pipeline(
        detector=FirstFound(
            (QuarterTurns(MTCNN), TightCrops(MTCNN), DETECTORS["cascade-thorough"]),
            name="accurate",
        ),
        mirror=True,
        jitters=8,
    ),
}


def central_face(faces: list[Face], image_shape: tuple[int, ...]) -> Face | None:
    """The face a single-subject photo is about: large and near the centre.

    LFW images and ID photos often show other people at the edges; taking the
    highest detector score instead would sometimes pick one of them.
    """
    if not faces:
        return None
    height, width = image_shape[:2]
    cx, cy = width / 2, height / 2
    diagonal2 = (width**2 + height**2) / 4

    def weight(face: Face) -> float:
        fx, fy = face.box.center
        offset2 = ((fx - cx) ** 2 + (fy - cy) ** 2) / diagonal2
        return face.box.area * float(np.exp(-4.0 * offset2))

    return max(faces, key=weight)
