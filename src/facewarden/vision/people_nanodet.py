"""People found by a CNN: NanoDet-m's person class, on ONNX Runtime.

NanoDet-m (RangiLyu, weights Apache-2.0; :mod:`facewarden.convert.people_model`)
is a one-stage COCO detector: per cell of three feature maps (strides 8, 16,
32) it gives 80 class probabilities (already through a sigmoid) and, per
side of the box, a distribution over 11 distances (Generalized Focal Loss:
the distance is the distribution's expectation, in units of the stride, from
the cell's centre). Only class 0, *person*, is read.

The image runs at its own resolution, scaled down only past ``max_pixels``
(or up, when the smallest person asked for would be smaller than the network
finds reliably), padded to a multiple of 32 (the graph takes any such size)
and normalised as NanoDet was trained: BGR,
mean ``(103.53, 116.28, 123.675)``, std ``(57.375, 57.12, 58.395)``
(checked on the crowd-dev photos: of six conventions tried, this one gives
the most and the surest person boxes).
One pass covers people up to about 640 px tall at the network's input; the
boxes of all strides go through the one NMS (:func:`facewarden.vision.nms.suppress`),
then through it once more on their head regions: two people cannot hold their
heads in one place (:data:`HEAD_TOP`, :data:`HEAD_SIDE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewarden.errors import ModelError
from facewarden.types import Box

__all__ = ["NanodetPeopleDetector"]

RGBImage = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

_STRIDES = (8, 16, 32)
_BINS = 11  # reg_max + 1: distances 0..10 strides per side
_MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
_STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)
#: The height (px at the network's input) of the smallest person found
#: reliably: three cells of the finest stride (the shortest box it keeps on
#: crowd-dev's IMG_32 is 25 px tall).
NETWORK_MIN_HEIGHT = 24.0
#: A person box's head region: its top fifth (a standing person's head is an
#: eighth of their height; the box has padding and a seated or cut person a
#: larger share)...
HEAD_TOP = 0.2
#: ...less a quarter of its width on each side (the head is in the middle; arms,
#: bags and a neighbour's shoulder at the sides).
HEAD_SIDE = 0.25


@dataclass(frozen=True)
class NanodetPeopleDetector:
    """Finds people (any pose, any direction) in an RGB image.

    Attributes:
        min_height: the height in pixels of the smallest person to find, or
            None (every size the network finds). Shorter boxes are dropped (a
            camera's set-up knows its smallest person: on OpenCV's vtest.avi,
            traffic cones and a sign post 24 to 30 px tall score 0.35 to 0.6),
            and where such a person would be under :data:`NETWORK_MIN_HEIGHT`
            px at ``max_pixels``, the image is scaled up for them (by at most
            ``max_upscale``).
        max_pixels: a cap on the scaled image (the cost of one pass grows
            with its pixels: about 0.3 s per megapixel on one core). At the
            default, a 1080p frame runs at 0.69x: people from about 35 px.
        max_upscale: the largest factor an image is scaled up by.
        min_score: the least person probability a box needs. 0.32: where the
            count's mean signed error crosses zero on the sparse-scene proxies
            of ``benchmarks/counting.py --sparse`` (crowd quarters at both
            sizes, wider-dev groups; averaged over the three; README), counted
            with the faces as :func:`facewarden.vision.people.count_people`
            counts, with ``head_iou`` (without it the crossing was at 0.35).
        iou: boxes overlapping a stronger one by more than this are the same
            person (NanoDet's own setting).
        head_iou: a box whose head region overlaps a stronger box's head
            region by more than this is the same person (None: no such rule).
            In crowds, occlusion makes NanoDet box people twice (the whole
            body and its upper part, or a pair side by side as well as each
            of them) with too little overlap for ``iou``; the heads coincide.
            Fixed as a rule (any overlap; the head region's geometry set from
            a standing person's proportions before measuring), not fitted. It
            also drops some real people (one of a pair boxed together): on
            ``benchmarks/counting.py``'s crowds it removes about 6 false
            counts for every 4 true ones, but at the same number of counts
            (1,426 with it at 0.32, 1,429 without it at 0.35) 159 stand on no
            annotated head instead of 192, and the sparse proxies' mean
            absolute errors are 2.5, 2.6, 2.8 instead of 2.8, 3.1, 3.1
            (README; ``--curve`` prints every threshold with and without it).
        folder: where NanoDet's files are (default: the fetched copy,
            :func:`facewarden.convert.people_model.model_dir`).
        threads: ONNX Runtime's intra-op threads (0: all cores; a camera's
            frames are processed one after another).
        device: ``cpu`` or ``cuda``.
    """

    min_height: float | None = None
    max_pixels: int = 1_000_000
    max_upscale: float = 2.0
    min_score: float = 0.32
    iou: float = 0.6
    head_iou: float | None = 0.0
    folder: Path | None = None
    threads: int = 0
    device: str = "cpu"
    name: str = "nanodet-m"

    def __post_init__(self) -> None:
        if self.min_height is not None and self.min_height <= 0:
            raise ValueError(f"min_height must be positive, got {self.min_height}")
        if not 0.0 < self.min_score < 1.0:
            raise ValueError(f"min_score must lie in (0, 1), got {self.min_score}")
        if self.head_iou is not None and not 0.0 <= self.head_iou < 1.0:
            raise ValueError(f"head_iou must lie in [0, 1), got {self.head_iou}")
        if self.max_pixels < 32 * 32:
            raise ValueError(f"max_pixels must be at least 1024, got {self.max_pixels}")

    def factor(self, width: int, height: int) -> float:
        """How much an image of this size is scaled before detection."""
        factor = min(1.0, (self.max_pixels / (width * height)) ** 0.5)
        if self.min_height is not None:
            # Up (to max_upscale) when the smallest person asked for would be too small.
            wanted = min(NETWORK_MIN_HEIGHT / self.min_height, self.max_upscale)
            factor = max(factor, wanted)
        return float(factor)

    def detect(self, image: RGBImage) -> list[Box]:
        """Boxes of the people in ``image`` (``xyxy`` in its pixels), strongest first."""
        return [box for box, _ in self.detect_scored(image)]

    def detect_scored(self, image: RGBImage) -> list[tuple[Box, float]]:
        """:meth:`detect`'s boxes with their person probabilities."""
        from facewarden.vision import onnx_session
        from facewarden.vision.nms import suppress

        height, width = image.shape[:2]
        if height == 0 or width == 0:
            return []
        factor = self.factor(width, height)
        pixels = _prepared(image, factor)
        outputs = onnx_session.run(self._session(), {"image": pixels}, what="NanoDet")
        rows, columns = pixels.shape[2:]
        boxes, scores = _decode(outputs, rows, columns, self.min_score)
        if not len(scores):
            return []
        boxes /= factor
        np.clip(boxes, 0, [width, height, width, height], out=boxes)
        if self.min_height is not None:
            tall = boxes[:, 3] - boxes[:, 1] >= self.min_height
            boxes, scores = boxes[tall], scores[tall]
        kept = suppress(boxes, scores, iou=self.iou)
        if self.head_iou is not None and len(kept) > 1:
            boxes, scores = boxes[kept], scores[kept]
            kept = suppress(_head_regions(boxes), scores, iou=self.head_iou)
        return [(Box(*map(float, boxes[i])), float(scores[i])) for i in kept]

    def _session(self) -> Any:
        from facewarden.convert.people_model import converted_nanodet
        from facewarden.vision import onnx_session

        key = f"nanodet-m:{self.folder or 'default'}"
        return onnx_session.session(
            key, lambda: converted_nanodet(self.folder), threads=self.threads, device=self.device
        )


def _head_regions(boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each ``xyxy`` person box's head region (:data:`HEAD_TOP`, :data:`HEAD_SIDE`)."""
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    return np.stack(
        [
            boxes[:, 0] + width * HEAD_SIDE,
            boxes[:, 1],
            boxes[:, 2] - width * HEAD_SIDE,
            boxes[:, 1] + height * HEAD_TOP,
        ],
        axis=1,
    )


def _prepared(image: RGBImage, factor: float) -> FloatArray:
    """The network's input: scaled, BGR, normalised, padded to a multiple of 32, NCHW."""
    import cv2

    height, width = image.shape[:2]
    scaled: npt.NDArray[Any] = image
    if factor != 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        interpolation = cv2.INTER_AREA if factor < 1.0 else cv2.INTER_LINEAR
        scaled = cv2.resize(image, size, interpolation=interpolation)
    rows, columns = scaled.shape[:2]
    padded_rows, padded_columns = -(-rows // 32) * 32, -(-columns // 32) * 32
    # Padding is 0 after normalisation: the mean colour, which holds no one.
    out = np.zeros((1, 3, padded_rows, padded_columns), dtype=np.float32)
    bgr = scaled[..., ::-1].astype(np.float32)
    out[0, :, :rows, :columns] = ((bgr - _MEAN_BGR) / _STD_BGR).transpose(2, 0, 1)
    return out


def _decode(
    outputs: list[Any], rows: int, columns: int, min_score: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Person boxes (``xyxy`` at the input's scale) and probabilities of every stride's cells."""
    boxes, scores = [], []
    for level, stride in enumerate(_STRIDES):
        person = np.asarray(outputs[level])[0, :, 0]
        cells = np.flatnonzero(person >= min_score)
        if not len(cells):
            continue
        if len(person) != (rows // stride) * (columns // stride):
            raise ModelError(
                f"NanoDet gave {len(person)} cells at stride {stride} for {rows}x{columns}"
            )
        logits = np.asarray(outputs[3 + level])[0, cells].reshape(-1, 4, _BINS).astype(np.float64)
        logits -= logits.max(axis=2, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=2, keepdims=True)
        distance = (weights * np.arange(_BINS)).sum(axis=2) * stride  # left, top, right, bottom
        y, x = np.divmod(cells, columns // stride)
        cx, cy = (x + 0.5) * stride, (y + 0.5) * stride
        boxes.append(
            np.stack(
                [
                    cx - distance[:, 0],
                    cy - distance[:, 1],
                    cx + distance[:, 2],
                    cy + distance[:, 3],
                ],
                axis=1,
            )
        )
        scores.append(person[cells].astype(np.float64))
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0)
    return np.concatenate(boxes), np.concatenate(scores)
