"""MTCNN's box arithmetic: P-Net's windows, regression, squaring, crops, per-level NMS.

Pure numpy (and OpenCV's resize for the crops) on ``(n, 9)`` float32 rows of
``x1 y1 x2 y2 score dx1 dy1 dx2 dy2``, as the cascade of
:class:`~facewarden.vision.mtcnn_detect.MtcnnDetector` passes them from
network to network. Nothing here runs a network.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from facewarden.vision.nms import suppress

__all__ = [
    "CELL",
    "STRIDE",
    "cropped",
    "output_cells",
    "pnet_windows",
    "regressed",
    "squared",
    "suppressed_per_level",
]

FloatArray = npt.NDArray[np.float32]

CELL = 12  # P-Net's window
STRIDE = 2  # P-Net's output stride


def output_cells(size: int) -> int:
    """P-Net's output cells along a side of ``size`` input pixels."""
    pooled = math.ceil((size - 2) / 2)  # conv 3x3 valid, then 2x2 pool, SAME padding
    return pooled - 4  # two more valid 3x3 convolutions


def pnet_windows(
    probability: FloatArray, regression: FloatArray, threshold: float, scale: float
) -> FloatArray:
    """Rows ``x1 y1 x2 y2 score dx1 dy1 dx2 dy2`` of the windows over ``threshold``."""
    rows, columns = np.nonzero(probability > threshold)
    if not len(rows):
        return np.zeros((0, 9), np.float32)
    # Computed in float64 and stored as float32, as a column_stack then astype did.
    out = np.empty((len(rows), 9), np.float32)
    out[:, 0] = (columns * STRIDE + 1) / scale
    out[:, 1] = (rows * STRIDE + 1) / scale
    out[:, 2] = (columns * STRIDE + CELL) / scale
    out[:, 3] = (rows * STRIDE + CELL) / scale
    out[:, 4] = probability[rows, columns]
    out[:, 5:] = regression[:, rows, columns].T
    return out


#: Consecutive pyramid levels whose windows number at most this many between them
#: are suppressed in one call (``suppress`` compares every pair at once up to
#: 256 boxes): on LFW, one call instead of about eight, 0.4 ms less per image.
_WINDOWS_PER_CALL = 256


def suppressed_per_level(levels: list[FloatArray], iou: float) -> FloatArray:
    """Each level's windows suppressed apart: level by level, best first within a level.

    The same windows, in the same order, as one :func:`suppress` call per level:
    levels never suppress each other (``groups``), and the kept windows are put
    back in level order (a stable sort keeps each level's best-first order).
    """
    kept = []
    start = 0
    while start < len(levels):
        stop, total = start + 1, len(levels[start])
        while stop < len(levels) and total + len(levels[stop]) <= _WINDOWS_PER_CALL:
            total += len(levels[stop])
            stop += 1
        windows = np.concatenate(levels[start:stop])
        labels = np.repeat(np.arange(stop - start), [len(w) for w in levels[start:stop]])
        keep = suppress(windows[:, :4], windows[:, 4], iou=iou, groups=labels)
        kept.append(windows[keep[np.argsort(labels[keep], kind="stable")]])
        start = stop
    return np.concatenate(kept)


def regressed(boxes: FloatArray) -> FloatArray:
    """Boxes moved by their regression columns (fractions of their width and height)."""
    out = boxes.copy()
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] += boxes[:, 5] * width
    out[:, 1] += boxes[:, 6] * height
    out[:, 2] += boxes[:, 7] * width
    out[:, 3] += boxes[:, 8] * height
    return out


def squared(boxes: FloatArray) -> FloatArray:
    """Boxes made square around their centres (side: the longer side)."""
    out = boxes.copy()
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(width, height)
    out[:, 0] = boxes[:, 0] + width / 2 - side / 2
    out[:, 1] = boxes[:, 1] + height / 2 - side / 2
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def cropped(pixels: FloatArray, boxes: FloatArray, size: int) -> FloatArray:
    """``(n, size, size, 3)`` crops of ``boxes``; outside the image is black."""
    height, width = pixels.shape[:2]
    crops = np.zeros((len(boxes), size, size, 3), np.float32)
    corners = np.column_stack([np.floor(boxes[:, :2]), np.ceil(boxes[:, 2:4])]).astype(np.int64)
    corners[:, 2:] = np.maximum(corners[:, 2:], corners[:, :2] + 1)
    for index, (left, top, right, bottom) in enumerate(corners.tolist()):
        if left >= 0 and top >= 0 and right <= width and bottom <= height:
            patch = pixels[top:bottom, left:right]  # a view: no copy when inside the image
        else:
            patch = np.zeros((bottom - top, right - left, 3), np.float32)
            sx1, sy1 = max(0, left), max(0, top)
            sx2, sy2 = min(width, right), min(height, bottom)
            if sx2 > sx1 and sy2 > sy1:
                patch[sy1 - top : sy2 - top, sx1 - left : sx2 - left] = pixels[sy1:sy2, sx1:sx2]
        interpolation = cv2.INTER_AREA if bottom - top > size else cv2.INTER_LINEAR
        cv2.resize(patch, (size, size), dst=crops[index], interpolation=interpolation)
    return crops
