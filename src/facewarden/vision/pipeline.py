"""Image in, faces out: detection, alignment, quality and embedding in one place.

``Pipeline(detector, embedder, ...)`` is built by constructor injection;
:data:`MODES` names the two presets every command chooses between:

Both use dlib's networks run by ONNX Runtime (converted from the wheel's
own weight files on first use); ``from_mode(mode, backend="dlib")`` runs
dlib itself, the reference, with the same results.

* ``fast``: the small-face detector (MTCNN on ONNX Runtime, faces from
  20 px, :class:`~facewarden.vision.mtcnn_detect.MtcnnDetector`) and each
  embedding averaged with that of the mirrored chip (two embeddings per
  face, about 6 ms more CPU than one). For video, the API and bulk work.
* ``accurate``: the same detector, the HOG/CNN cascade where it finds nothing,
  and each embedding averaged over ten views of the aligned chip: the chip,
  its mirror and eight jittered copies (:func:`~facewarden.vision.align.jittered`,
  dlib's own recipe for its published LFW figure). It costs ten embeddings
  per face and is worth it where a photo is enrolled or a decision rests on
  one image (see the README for the LFW figures and how they were measured).

``run_batch`` spreads many images over worker processes (one per core by
default), each loading the models once.
"""

from __future__ import annotations

import ctypes
import dataclasses
import itertools
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from facewarden import imaging
from facewarden.errors import ConfigError, FacewardenError, ModelError
from facewarden.types import Box, Face
from facewarden.vision.align import align, jittered, mirror
from facewarden.vision.detect import (
    DETECTORS,
    CascadeDetector,
    Detector,
    FirstFound,
)
from facewarden.vision.embed import DlibResnetEmbedder, Embedder, l2_normalise
from facewarden.vision.landmarks import fit_landmarks
from facewarden.vision.onnx_embed import OnnxResnetEmbedder
from facewarden.vision.quality import QualityPolicy, assess

__all__ = [
    "MAX_JITTERS",
    "MODES",
    "BatchItem",
    "Embed",
    "Mode",
    "Pipeline",
    "central_face",
    "is_usable",
    "run_batch",
]

logger = logging.getLogger(__name__)

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
    that :func:`run_batch` can hand it to its worker processes.
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

    detector: Detector = field(default_factory=lambda: DETECTORS["mtcnn"])
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
            image: the RGB image.
            embed: embed every face (True), none (False), or those a predicate
                chooses: it is given each face with its quality verdict (a camera
                embeds only the faces its tracks need, identification only the
                usable ones, :func:`is_usable`: embeddings are most of the cost).
        """
        return self.run_many([image], embed=embed)[0]

    def run_many(self, images: Iterable[RGBImage], *, embed: Embed = True) -> list[list[Face]]:
        """The faces of each image, as :meth:`run` finds them, embedded in one batch.

        The same faces and embeddings as :meth:`run` on each image (ONNX
        Runtime computes each view the same in any batch), for less: dlib's
        ResNet costs about 5.0 ms a view in batches of 8 or more against 5.6 ms
        in the batch of 2 that one face and its mirror make. ``run_batch``
        hands each worker's chunk of images here.
        """
        found = [
            self._assessed(image, faces)
            for group in _groups(images, _GROUP_PIXELS)
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
        # A detector that finds the faces of several images at once for less
        # (MTCNN: its landmark fits in a row) says so with a detect_many method.
        detect_many = getattr(self.detector, "detect_many", None)
        if callable(detect_many):
            faces: list[list[Face]] = detect_many(images)
            return faces
        return [self.detector.detect(image) for image in images]

    def _assessed(self, image: RGBImage, faces: list[Face]) -> tuple[list[Face], list[RGBImage]]:
        """``faces`` of ``image`` with their quality verdicts, and their aligned chips."""
        chips = [self._chip(image, f) for f in faces]
        faces = [
            f.with_quality(assess(f.box, f.landmarks, chip, self.quality))
            for f, chip in zip(faces, chips, strict=True)
        ]
        return faces, chips

    def run_cropped(self, image: RGBImage, *, embed: bool = True) -> Face:
        """The whole of ``image`` as one face, without detection (a photo cropped to a face).

        The face's box is the image, its landmarks are placed in that box,
        its ``detector`` is ``cropped`` and its detector score 0.
        """
        height, width = image.shape[:2]
        box = Box(0.0, 0.0, float(width), float(height))
        face = Face(box, fit_landmarks(image, box), 0.0, "cropped")
        chip = self._chip(image, face)
        face = face.with_quality(assess(face.box, face.landmarks, chip, self.quality))
        return face.with_embedding(self.embed_chips([chip])[0]) if embed else face

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


MODES: dict[str, Pipeline] = {
    # One view measured 98.83% on the LFW fold with MTCNN's boxes (99.00% with
    # HOG's): at the noise floor of dlib's single-view 99.13%. The mirror is
    # the cheapest view that lifts it clear (99.17%); see the README.
    "fast": Pipeline(mirror=True),
    "accurate": Pipeline(
        detector=FirstFound((DETECTORS["mtcnn"], DETECTORS["cascade-thorough"]), name="accurate"),
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


@dataclass(frozen=True)
class BatchItem:
    """The outcome for one input of :func:`run_batch`: faces, or the error it raised."""

    index: int
    name: str
    faces: list[Face] = field(default_factory=list)
    error: FacewardenError | None = None
    image_shape: tuple[int, ...] = ()


_worker_pipeline: Pipeline | None = None


def _init_worker(pipeline: Pipeline) -> None:
    global _worker_pipeline  # noqa: PLW0603 - one pipeline per worker process, set once
    _worker_pipeline = pipeline
    _die_with_parent()
    # One worker per core already: OpenCV's own thread pool (the pyramid's and
    # the crops' resizing) would only make the workers compete for the cores,
    # as ONNX Runtime's sessions would with more than their one thread.
    import cv2

    cv2.setNumThreads(1)


def _die_with_parent() -> None:
    """End this worker when the process that started it dies, even by SIGKILL.

    Otherwise a killed ``subjects import`` leaves its workers behind, idle
    with the models loaded. Linux tells us at once (``PR_SET_PDEATHSIG``);
    elsewhere a watcher thread notices the new parent within a second.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _process(pipeline: Pipeline, index: int, source: Source, embed: Embed) -> BatchItem:
    name = _name(index, source)
    try:
        image = pipeline.decode(source, name=name)
        faces = pipeline.run(image, embed=embed)
    except FacewardenError as exc:
        return BatchItem(index, name, error=exc)
    except RuntimeError as exc:
        # dlib reports its own failures as RuntimeError (the ONNX backends
        # raise ModelError, caught above); one odd image must not end a batch.
        logger.exception("dlib failed on %s", name)
        return BatchItem(index, name, error=ModelError(f"{name}: the models failed: {exc}"))
    return BatchItem(index, name, faces, image_shape=image.shape)


def _process_chunk(pipeline: Pipeline, chunk: list[tuple[int, Source, Embed]]) -> list[BatchItem]:
    """:func:`_process` on each input of ``chunk``, with one embedding batch for all of them.

    Images are decoded one at a time as detection reaches them (only their
    faces' chips wait for the batch). If running them together fails, each
    input is run on its own, so that the error names it and the others keep
    their faces.
    """
    items: dict[int, BatchItem] = {}
    decoded: list[tuple[int, str, tuple[int, ...]]] = []

    def images() -> Iterator[RGBImage]:
        for index, source, _ in chunk:
            name = _name(index, source)
            try:
                image = pipeline.decode(source, name=name)
            except FacewardenError as exc:
                items[index] = BatchItem(index, name, error=exc)
                continue
            decoded.append((index, name, image.shape))
            yield image

    try:
        # run_batch gives every input of a run the same ``embed``.
        found = pipeline.run_many(images(), embed=chunk[0][2])
    except (FacewardenError, RuntimeError):
        return [_process(pipeline, *task) for task in chunk]
    for (index, name, shape), faces in zip(decoded, found, strict=True):
        items[index] = BatchItem(index, name, faces, image_shape=shape)
    return [items[index] for index, _, _ in chunk]


def _name(index: int, source: Source) -> str:
    return str(source) if isinstance(source, str | os.PathLike) else f"#{index}"


def _work(chunk: list[tuple[int, Source, Embed]]) -> list[BatchItem]:
    if _worker_pipeline is None:
        raise RuntimeError("batch worker used before its initializer ran")
    return _process_chunk(_worker_pipeline, chunk)


def run_batch(
    pipeline: Pipeline,
    sources: Iterable[Source],
    *,
    workers: int | None = None,
    embed: Embed = True,
    chunksize: int = 4,
) -> Iterator[BatchItem]:
    """Run ``pipeline`` over many images, in input order, using every core.

    Each worker process decodes its own inputs and loads the models once. An
    input that fails (not an image, too large) yields a :class:`BatchItem`
    with its error; the run goes on.

    Args:
        pipeline: what to run on each image.
        sources: paths, bytes or RGB arrays.
        workers: processes to use; ``None`` means one per available core, 1 runs in-process.
        embed: embed every face (True), none (False: detection and quality
            only), or those a module-level predicate chooses (it goes to the
            worker processes by name), such as :func:`is_usable`.
        chunksize: inputs handed to a worker at a time.
    """
    if workers is None:
        workers = len(os.sched_getaffinity(0))
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    tasks = (
        (i, Path(s) if isinstance(s, os.PathLike) else s, embed) for i, s in enumerate(sources)
    )
    if workers == 1:
        for chunk in _chunks(tasks, chunksize):
            yield from _process_chunk(pipeline, chunk)
        return
    # spawn, not fork: dlib and numpy threads do not survive a fork safely.
    # An executor, not a Pool: a worker that dies raises BrokenProcessPool here
    # instead of being replaced forever while the caller hangs.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(pipeline,)
    ) as executor:
        # A bounded window of chunks in flight keeps memory flat on huge inputs
        # while results still come back in input order.
        window: deque[Future[list[BatchItem]]] = deque()
        for chunk in _chunks(tasks, chunksize):
            window.append(executor.submit(_work, chunk))
            if len(window) >= workers * 4:
                yield from window.popleft().result()
        while window:
            yield from window.popleft().result()


def _chunks(
    tasks: Iterable[tuple[int, Source, Embed]], size: int
) -> Iterator[list[tuple[int, Source, Embed]]]:
    iterator = iter(tasks)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
