"""Non-maximum suppression: the one routine every detector of facewarden uses.

Greedy, best score first: a box is dropped when it overlaps a box already
kept by more than ``iou``, or when more than ``covered`` of either box lies
inside the other. Two measures of overlap are offered because the detectors
were trained with them:

* ``union="area"``: the usual intersection over union (MTCNN, SCRFD);
* ``union="enclosing"``: intersection over the area of the smallest box
  enclosing both, dlib's ``test_box_overlap`` (the MMOD detector), which with
  ``covered`` reproduces dlib's own suppression exactly.

Boxes are ``xyxy`` floats, ``x_max``/``y_max`` exclusive (dlib's inclusive
rectangles become ``right + 1``, ``bottom + 1``); a degenerate box (zero
width or height) overlaps nothing and never divides by zero.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["suppress"]


def suppress(
    boxes: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    iou: float,
    covered: float = 1.0,
    union: Literal["area", "enclosing"] = "area",
) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept, best score first (ties keep their input order).

    Args:
        boxes: ``(n, 4)`` ``xyxy`` boxes.
        scores: ``(n,)`` scores; higher is better.
        iou: a box overlapping a kept one by more than this is dropped.
        covered: ...or one with more than this fraction of either box's area
            inside the other (1.0: never by this rule).
        union: the overlap's denominator: the union's area (``area``) or the
            enclosing box's (``enclosing``, dlib's measure).
    """
    xyxy = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(xyxy) != len(values):
        raise ValueError(f"{len(xyxy)} boxes but {len(values)} scores")
    order = np.argsort(-values, kind="stable")
    x1, y1, x2, y2 = (xyxy[:, i] for i in range(4))
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    alive = np.ones(len(order), dtype=bool)
    kept: list[int] = []
    for rank, best in enumerate(order):
        if not alive[rank]:
            continue
        kept.append(int(best))
        rest = order[rank + 1 :][alive[rank + 1 :]]
        if not len(rest):
            continue
        inner_w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        inner_h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inner = inner_w * inner_h
        if union == "area":
            outer = areas[best] + areas[rest] - inner
        else:
            outer = (np.maximum(x2[best], x2[rest]) - np.minimum(x1[best], x1[rest])) * (
                np.maximum(y2[best], y2[rest]) - np.minimum(y1[best], y1[rest])
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            overlap = np.where(outer > 0, inner / outer, 0.0)
            inside = np.where(
                np.minimum(areas[best], areas[rest]) > 0,
                inner / np.minimum(areas[best], areas[rest]),
                0.0,
            )
        drop = (inner > 0) & ((overlap > iou) | (inside > covered))
        positions = np.flatnonzero(alive[rank + 1 :])[drop] + rank + 1
        alive[positions] = False
    return np.asarray(kept, dtype=np.intp)
