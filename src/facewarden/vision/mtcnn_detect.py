"""The small-face detector: MTCNN's three networks on ONNX Runtime.

MTCNN (Zhang et al., 2016) was trained on WIDER FACE, so it finds the faces
of real scenes (small, blurred, turned, partly hidden) that dlib's HOG
detector, trained on frontal faces of 80 px and more, does not. The weights
are the MIT-licensed ``mtcnn`` wheel's, converted to ONNX on first use
(:mod:`facewarden.convert.mtcnn_onnx`); nothing here needs TensorFlow.

The cascade, per image:

0. An image whose first pyramid level would hold more than
   ``max_level_pixels`` (a photo over 4 MP, searched from 20 px) is first
   scaled down to the size where it holds that many, and searched there: the
   work per image is bounded whatever its size, and the smallest face found
   grows with the square root of the image's pixels (20 px up to 4 MP, 35 px
   at 12 MP, 63 px at 40 MP). Boxes come back in the image's own pixels, and
   landmarks are fitted on the image itself.
1. **P-Net** slides a 12x12 window (stride 2) over an image pyramid whose
   first level maps ``min_face`` pixels to 12 and whose levels shrink by
   ``scale_step`` down to 12 px. Each level runs as one ONNX call; a level
   larger than ``tile`` pixels a side runs as overlapping tiles of one shape
   batched into one call (a fixed shape lets ONNX Runtime reuse its plan and
   bounds the memory of a 4K frame). Windows over ``thresholds[0]`` become
   boxes, suppressed per level and then across levels.
2. **R-Net** scores every surviving box from a 24x24 crop, all in one batch,
   and refines it.
3. **O-Net** does the same on 48x48 crops and gives the final score.

The box arithmetic between the networks (windows, regression, squaring, crops)
is :mod:`facewarden.vision.mtcnn_boxes`; every suppression is
:func:`facewarden.vision.nms.suppress`. Faces come with dlib's five landmarks
(the predictor started on each box mapped to dlib's convention,
:data:`facewarden.vision.landmarks.MTCNN_BOXES`), so alignment and embeddings
work as with every other detector.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facewarden.errors import ConfigError
from facewarden.types import Box, Face
from facewarden.vision.landmarks import MTCNN_BOXES, fit_landmarks
from facewarden.vision.mtcnn_boxes import (
    CELL,
    STRIDE,
    cropped,
    output_cells,
    pnet_windows,
    regressed,
    squared,
    suppressed_per_level,
)
from facewarden.vision.nms import suppress
from facewarden.vision.onnx_session import run, session

__all__ = ["MtcnnDetector"]

RGBImage = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

#: The default cap on P-Net's first pyramid level: that of a 4 MP photo searched
#: for faces from 20 px ((12 / 20)^2 * 4,000,000).
DEFAULT_MAX_LEVEL_PIXELS = 1_440_000


@dataclass(frozen=True)
class MtcnnDetector:
    """MTCNN on ONNX Runtime, with dlib's five landmarks per face.

    Attributes:
        min_face: the smallest face to look for, in pixels of the image as
            given (the pyramid's first level scales it to P-Net's 12 px).
        max_face: the largest face to look for (None: as large as the image);
            the pyramid stops at the level that scales it to 12 px.
        scale_step: the pyramid's factor between levels.
        thresholds: the least face probability after P-Net, R-Net and O-Net.
        max_side: a cap on the first pyramid level's long side; a larger image
            is searched for faces proportionally larger than ``min_face``.
        max_level_pixels: a cap on the first pyramid level's pixels, the work
            per image (the whole pyramid is about twice the first level). A
            larger image is scaled down until its first level holds this many
            and searched at that size (:meth:`work_size`), so the smallest face
            it finds is ``min_face`` times the square root of the excess. The
            default, 1.44 M, is the first level of a 4 MP photo searched from
            20 px (2309x1732): every photo of LFW, WIDER FACE and
            dlib's examples is searched as it is, while an 8000x5000 photo
            (40 MP, the upload limit) costs about 0.8 s of CPU instead of 6
            and a 12 MP phone photo still yields faces from 35 px.
        tile: pyramid levels with a side above this run as batched tiles.
        reuse_levels: make each pyramid level from a level at least three times
            as large instead of from the image. On a 1080p frame resizing the
            whole image for each of 12 levels cost more than P-Net on all but
            the first (about 150 ms against 20); the levels differ only by
            resampling, and so do a few borderline detections (on wider-dev:
            1 face of 625 and 2 false positives more). The class keeps the
            exact pyramid by default; the ``mtcnn`` preset and the camera path
            reuse levels (on LFW's 250x250 images, half the levels come from a
            level instead of the image: about 0.5 ms less).
        threads: ONNX Runtime intra-op threads (0: every core).
        device: ``cpu`` or ``cuda`` (when offered).
        name: the name faces carry as their ``detector``.
    """

    min_face: float = 20.0
    max_face: float | None = None
    scale_step: float = 0.709
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    max_side: int = 4096
    max_level_pixels: int = DEFAULT_MAX_LEVEL_PIXELS
    tile: int = 1024
    mirror_check: bool = True
    reuse_levels: bool = False
    threads: int = 1
    device: str = "cpu"
    name: str = "mtcnn"

    def __post_init__(self) -> None:
        if not self.min_face >= 6:
            raise ConfigError(f"min_face must be at least 6 px, got {self.min_face}")
        if not 0.3 <= self.scale_step < 0.95:
            raise ConfigError(f"scale_step must be in [0.3, 0.95), got {self.scale_step}")
        if len(self.thresholds) != 3 or not all(0 <= t < 1 for t in self.thresholds):
            raise ConfigError(f"thresholds must be three values in [0, 1), got {self.thresholds}")
        if self.max_face is not None and not self.max_face >= self.min_face:
            raise ConfigError(f"max_face must be at least min_face, got {self.max_face}")
        if self.tile < 64 or self.max_side < 64:
            raise ConfigError("tile and max_side must be at least 64 px")
        if self.max_level_pixels < 64 * 64:
            raise ConfigError(
                f"max_level_pixels must be at least {64 * 64}, got {self.max_level_pixels}"
            )

    def detect(self, image: RGBImage) -> list[Face]:
        """Faces in ``image`` (H, W, 3 uint8 RGB), best score first."""
        boxes, scores = self.boxes(image)
        return faces_with_landmarks(image, boxes, scores, self.name)

    def detect_many(self, images: Sequence[RGBImage]) -> list[list[Face]]:
        """:meth:`detect` on each image, with every image's boxes found before any landmarks.

        The same faces; dlib's landmark predictor, fitted on all the faces in a
        row, stays in the CPU's caches instead of being evicted by the networks
        between faces (on LFW, 1.0 ms of CPU per image instead of 1.5).
        """
        found = [self.boxes(image) for image in images]
        return [
            faces_with_landmarks(image, boxes, scores, self.name)
            for image, (boxes, scores) in zip(images, found, strict=True)
        ]

    def boxes(self, image: RGBImage) -> tuple[FloatArray, FloatArray]:
        """``(n, 4)`` ``xyxy`` boxes clipped to ``image``, and ``(n,)`` scores, best first."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        height, width = image.shape[:2]
        work_width, work_height = self.work_size(width, height)
        if (work_width, work_height) == (width, height):
            return self._boxes(image, self.max_face)
        # Over the cap: searched at the work size, where min_face stands for
        # min_face / factor pixels of the image (and max_face for as many).
        work = np.asarray(
            cv2.resize(image, (work_width, work_height), interpolation=cv2.INTER_AREA), np.uint8
        )
        factor = work_width / width
        max_face = None if self.max_face is None else max(self.min_face, self.max_face * factor)
        boxes, scores = self._boxes(work, max_face)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]] * (width / work_width), 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]] * (height / work_height), 0, height)
        return boxes, scores

    def turned_scores(self, image: RGBImage, boxes: FloatArray) -> FloatArray:
        """O-Net's face probability of each box's square crop, turned 0 to 3 quarters.

        Args:
            image: the (H, W, 3) uint8 RGB image the boxes are in.
            boxes: ``(n, 4)`` ``xyxy`` boxes (squared around their centres here).

        Returns:
            ``(n, 4)``: column ``q`` is the crop turned ``q`` times as
            ``np.rot90`` turns (counter-clockwise). A face found upright scores
            highest in column 0; one found lying on its side or upside down, in
            the column that stands it up. One O-Net call for all ``4 n`` crops,
            each read from its own region of ``image`` (never a float copy of all
            of it).
        """
        square = squared(np.asarray(boxes, np.float32).reshape(-1, 4))
        height, width = image.shape[:2]
        crops = np.zeros((len(square), 48, 48, 3), np.float32)
        for index, box in enumerate(square):
            left, top = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
            right, bottom = min(width, math.ceil(box[2])), min(height, math.ceil(box[3]))
            if right <= left or bottom <= top:
                continue  # a box outside the image: a black crop, which no turn stands up
            region = np.asarray(image[top:bottom, left:right], np.float32)
            shifted = box[None, :4] - np.array([left, top, left, top], np.float32)
            crops[index] = cropped(region, shifted, 48)[0]
        turned = np.concatenate([np.rot90(crops, q, axes=(1, 2)) for q in range(4)])
        outputs = _run_in_slices(self._session("onet"), np.ascontiguousarray(turned), "onet")
        return np.asarray(outputs[-1], np.float32).reshape(4, len(square)).T

    def work_size(self, width: int, height: int) -> tuple[int, int]:
        """The size an image of ``width`` x ``height`` is searched at.

        The image's own, unless the first pyramid level (``min_face`` pixels
        made 12) would hold more than ``max_level_pixels``; then the largest
        size whose first level holds no more.
        """
        first = (CELL / self.min_face) ** 2 * width * height
        if first <= self.max_level_pixels:
            return width, height
        factor = (self.max_level_pixels / first) ** 0.5
        return max(CELL, math.floor(width * factor)), max(CELL, math.floor(height * factor))

    def smallest_face(self, width: int, height: int) -> float:
        """The smallest face searched for in an image of ``width`` x ``height``, in its pixels."""
        return self.min_face * width / self.work_size(width, height)[0]

    def scales(self, width: int, height: int) -> list[float]:
        """The pyramid's scale factors for an image of this size, largest first.

        Relative to the size the image is searched at (:meth:`work_size`): its
        own up to the cap.
        """
        work_width, work_height = self.work_size(width, height)
        max_face = self.max_face
        if max_face is not None and work_width != width:
            max_face = max(self.min_face, max_face * work_width / width)
        return self._scales(work_width, work_height, max_face)

    def _boxes(self, image: RGBImage, max_face: float | None) -> tuple[FloatArray, FloatArray]:
        pixels = np.ascontiguousarray(image, dtype=np.float32)
        found = self._proposals(image, pixels, max_face)
        if len(found):
            found = self._refine(pixels, found, "rnet", self.thresholds[1], square=True)
        if len(found):
            found = self._refine(pixels, found, "onet", self.thresholds[2], square=False)
        height, width = image.shape[:2]
        if not len(found):
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        boxes = found[:, :4].copy()
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        # O-Net's regression can shrink a window far below the smallest face searched
        # for; such boxes are texture, not faces (a 7 px "face" from a 20 px search).
        smallest = self.min_face / 2
        valid = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
        valid &= np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= smallest
        boxes, scores = boxes[valid], found[valid, 4]
        order = np.argsort(-scores, kind="stable")
        return boxes[order].astype(np.float32), scores[order].astype(np.float32)

    def _scales(self, width: int, height: int, max_face: float | None) -> list[float]:
        first = CELL / self.min_face
        first = min(first, self.max_side / max(width, height))
        scales = []
        scale = first
        last = 0.0 if max_face is None else CELL / max_face
        while min(width, height) * scale >= CELL:
            scales.append(scale)
            if scale <= last * (1 + 1e-9):  # this level already sees max_face
                break
            scale *= self.scale_step
        return scales

    # -- stage 1 -------------------------------------------------------------------

    def _proposals(self, image: RGBImage, pixels: FloatArray, max_face: float | None) -> FloatArray:
        height, width = image.shape[:2]
        runtime = self._session("pnet")
        found = []
        levels: list[FloatArray] = []
        for scale in self._scales(width, height, max_face):
            size = (max(CELL, round(width * scale)), max(CELL, round(height * scale)))
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            # Area-averaged from the smallest level made (in floats: no rounding) at
            # least three times as large, rather than from the image.
            larger = [i for i, s in enumerate(levels) if s.shape[1] >= 3 * size[0]]
            if larger:
                level = np.asarray(
                    cv2.resize(levels[larger[-1]], size, interpolation=interpolation), np.float32
                )
                del levels[: larger[-1]]  # larger still: never a source again
            else:
                level = _level(image, pixels, size, interpolation)
            if self.reuse_levels:
                levels.append(level)
            probability, regression = self._pnet(runtime, level)
            boxes = pnet_windows(probability, regression, self.thresholds[0], scale)
            if len(boxes):
                found.append(boxes)
        if not found:
            return np.zeros((0, 5), np.float32)
        boxes = suppressed_per_level(found, iou=0.5)
        boxes = boxes[suppress(boxes[:, :4], boxes[:, 4], iou=0.7)]
        return squared(regressed(boxes))

    def _pnet(self, runtime: Any, level: FloatArray) -> tuple[FloatArray, FloatArray]:
        """P-Net's probability ``(rows, columns)`` and regression ``(4, rows, columns)`` maps."""
        height, width = level.shape[:2]
        if max(height, width) <= self.tile:
            regression, probability = run(runtime, {"image": level[None]}, what="MTCNN P-Net")
            return np.asarray(probability)[0], np.asarray(regression)[0]
        return self._pnet_tiled(runtime, level)

    def _pnet_tiled(self, runtime: Any, level: FloatArray) -> tuple[FloatArray, FloatArray]:
        # Tiles start at even pixels (P-Net's stride) and overlap by one window, so
        # every output cell of the whole level is computed by exactly one tile. They
        # split the level evenly: a 1385x1039 level is four 698x526 tiles (1.47 M
        # pixels), not four of 1024x1024 (4.2 M).
        height, width = level.shape[:2]
        out_h, out_w = output_cells(height), output_cells(width)
        tile_h, tile_w = _tile_side(height, self.tile), _tile_side(width, self.tile)
        step_h, step_w = tile_h - CELL + STRIDE, tile_w - CELL + STRIDE
        origins = [
            (
                min(y, height - tile_h) // STRIDE * STRIDE,
                min(x, width - tile_w) // STRIDE * STRIDE,
            )
            for y in range(0, max(1, height - tile_h + step_h), step_h)
            for x in range(0, max(1, width - tile_w + step_w), step_w)
        ]
        batch = np.stack([level[y : y + tile_h, x : x + tile_w] for y, x in origins])
        regression, probability = run(runtime, {"image": batch}, what="MTCNN P-Net")
        probability, regression = np.asarray(probability), np.asarray(regression)
        full_p = np.zeros((out_h, out_w), np.float32)
        full_r = np.zeros((4, out_h, out_w), np.float32)
        rows, columns = probability.shape[1:]
        for index, (y, x) in enumerate(origins):
            oy, ox = y // STRIDE, x // STRIDE
            h, w = min(rows, out_h - oy), min(columns, out_w - ox)
            full_p[oy : oy + h, ox : ox + w] = probability[index, :h, :w]
            full_r[:, oy : oy + h, ox : ox + w] = regression[index, :, :h, :w]
        return full_p, full_r

    # -- stages 2 and 3 ------------------------------------------------------------

    def _refine(
        self, pixels: FloatArray, boxes: FloatArray, network: str, threshold: float, square: bool
    ) -> FloatArray:
        size = 24 if network == "rnet" else 48
        crops = cropped(pixels, boxes, size)
        runtime = self._session(network)
        outputs = _run_in_slices(runtime, crops, network)
        regression, probability = np.asarray(outputs[0]), np.asarray(outputs[-1])
        if network == "onet" and self.mirror_check:
            probability = self._with_mirror(runtime, crops, probability, threshold)
        keep = probability > threshold
        refined = boxes[keep].copy()
        refined[:, 4] = probability[keep]
        refined[:, 5:9] = regression[keep]
        refined = regressed(refined)
        if network == "onet":
            refined = refined[suppress(refined[:, :4], refined[:, 4], iou=0.7, covered=0.7)]
        else:
            refined = refined[suppress(refined[:, :4], refined[:, 4], iou=0.7)]
        return squared(refined) if square else refined

    def _with_mirror(
        self, runtime: Any, crops: FloatArray, probability: FloatArray, threshold: float
    ) -> FloatArray:
        """O-Net's probability averaged with that of the mirrored crop.

        The average can pass ``threshold`` only where the crop's own probability
        exceeds ``2 * threshold - 1`` (the mirror's is at most 1); the other
        crops are rejected either way, so their mirror is not computed.
        """
        averaged: FloatArray = (probability / 2).astype(np.float32)
        hopeful = np.flatnonzero(probability > 2 * threshold - 1)
        if len(hopeful):
            mirrored = np.ascontiguousarray(crops[hopeful, :, ::-1])
            outputs = _run_in_slices(runtime, mirrored, "onet")
            averaged[hopeful] = (probability[hopeful] + np.asarray(outputs[-1])) / 2
        return averaged

    def _session(self, network: str) -> Any:
        from facewarden.convert.cache import converted_mtcnn

        return session(
            f"mtcnn_{network}",
            lambda: converted_mtcnn(network),
            threads=self.threads,
            device=self.device,
        )


def _tile_side(length: int, tile: int) -> int:
    """The side of the fewest equal tiles of at most ``tile`` pixels that cover ``length``.

    Consecutive tiles overlap by one window less a stride (``CELL - STRIDE``);
    the side is even, so every tile's step is a whole number of P-Net's strides.
    """
    if length <= tile:
        return length
    overlap = CELL - STRIDE
    largest_step = (tile - overlap) // STRIDE * STRIDE
    count = math.ceil((length - overlap) / largest_step)
    step = math.ceil((length - overlap) / count / STRIDE) * STRIDE
    return step + overlap


def _level(
    image: RGBImage, pixels: FloatArray, size: tuple[int, int], interpolation: int
) -> FloatArray:
    """The pyramid level of ``size`` resized from the image, as the uint8 resize gives it.

    OpenCV's area resize of uint8 pixels at a ratio that is not a whole number
    sums in float32 and rounds to the nearest (ties to even); on float32
    pixels it does the same sums, about a third faster, and leaves the
    rounding, done here. The two agree to the bit (checked on every level of
    the LFW, wider-dev and dlib photos, ``tests/vision/test_mtcnn_speed.py``).
    Whole-number ratios (OpenCV's integer fast path) and enlargements (fixed
    point) keep the uint8 resize.
    """
    height, width = image.shape[:2]
    whole = width % size[0] == 0 and height % size[1] == 0
    if interpolation != cv2.INTER_AREA or whole:
        return np.asarray(cv2.resize(image, size, interpolation=interpolation), np.float32)
    level = np.asarray(cv2.resize(pixels, size, interpolation=interpolation), np.float32)
    return np.rint(level, out=level)


#: The most crops R-Net and O-Net take in one call. Larger batches cost more per
#: crop (their activations leave the CPU's caches): R-Net about 50 to 54 us a crop
#: in batches of 10 to 20, 60 to 80 in batches of 32 (LFW's 42 candidates: 32 and
#: 10 cost 62 to 80 us a crop, three calls of 14 50 to 54), over 100 at 110 and
#: more; O-Net grows from about 0.35 ms a crop at 2 to 0.45 at 32. Each crop's
#: outputs are the same in any batch.
_SLICE = {"rnet": 16, "onet": 8}


def _run_in_slices(runtime: Any, crops: FloatArray, network: str) -> list[FloatArray]:
    """``network``'s outputs for ``crops``: as few calls of at most :data:`_SLICE` crops
    as can be, of sizes that differ by one at most (42 crops: three of 14, not 16, 16, 10)."""
    calls = max(1, -(-len(crops) // _SLICE[network]))
    bounds = np.linspace(0, len(crops), calls + 1).round().astype(int).tolist()
    parts = [
        run(runtime, {"image": crops[start:stop]}, what=f"MTCNN {network}")
        for start, stop in itertools.pairwise(bounds)
    ]
    if len(parts) == 1:
        return [np.asarray(output) for output in parts[0]]
    return [np.concatenate([np.asarray(part[i]) for part in parts]) for i in range(len(parts[0]))]


def faces_with_landmarks(
    image: RGBImage, boxes: FloatArray, scores: FloatArray, detector: str
) -> list[Face]:
    """Faces of ``xyxy`` boxes, with dlib's five landmarks fitted from MTCNN's box convention."""
    faces = []
    for (x1, y1, x2, y2), score in zip(boxes, scores, strict=True):
        box = Box(float(x1), float(y1), float(x2), float(y2))
        faces.append(Face(box, fit_landmarks(image, box, MTCNN_BOXES), float(score), detector))
    return faces
