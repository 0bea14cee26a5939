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

from typing import Any, Literal

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
    groups: npt.ArrayLike | None = None,
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
        groups: ``(n,)`` integer labels; boxes of different groups never drop
            each other. The same boxes are kept as by one call per group
            (MTCNN suppresses each pyramid level's windows apart, in one call).
    """
    xyxy = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(xyxy) != len(values):
        raise ValueError(f"{len(xyxy)} boxes but {len(values)} scores")
    labels = None if groups is None else np.asarray(groups).reshape(-1)
    if labels is not None and len(labels) != len(values):
        raise ValueError(f"{len(values)} boxes but {len(labels)} group labels")
    if len(values) <= 1:  # nothing to suppress
        return np.arange(len(values), dtype=np.intp)
    order = np.argsort(-values, kind="stable")
    x1, y1, x2, y2 = xyxy[order].T
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    ranked = (x1, y1, x2, y2, areas)
    ranked_groups = None if labels is None else labels[order]
    if len(order) <= _MATRIX_LIMIT:
        kept = _greedy_by_matrix(ranked, iou, covered, union, ranked_groups)
    else:
        kept = _greedy_by_rows(ranked, iou, covered, union, ranked_groups)
    return order[np.asarray(kept, dtype=np.intp)].astype(np.intp)


# Up to this many boxes every pair's verdict is computed at once and the greedy
# pass only reads it: several times faster on the tens of windows MTCNN's
# P-Net leaves per pyramid level (eleven calls per LFW image). On more boxes
# the row-by-row pass, which skips the boxes already dropped, costs less.
_MATRIX_LIMIT = 256

_Ranked = tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]


def _drops(
    ranked: _Ranked,
    rows: slice | int,
    columns: slice | npt.NDArray[np.intp],
    iou: float,
    covered: float,
    union: Literal["area", "enclosing"],
    groups: npt.NDArray[Any] | None = None,
) -> npt.NDArray[np.bool_]:
    """Whether each box of ``rows``, if kept, drops each box of ``columns`` (ranked order)."""
    x1, y1, x2, y2, areas = ranked
    pick = np.s_[rows, None] if isinstance(rows, slice) else np.s_[rows]
    bx1, by1, bx2, by2, barea = x1[pick], y1[pick], x2[pick], y2[pick], areas[pick]
    cx1, cy1, cx2, cy2, carea = x1[columns], y1[columns], x2[columns], y2[columns], areas[columns]
    inner_w = np.maximum(np.minimum(bx2, cx2) - np.maximum(bx1, cx1), 0)
    inner_h = np.maximum(np.minimum(by2, cy2) - np.maximum(by1, cy1), 0)
    inner = inner_w * inner_h
    if union == "area":
        outer = barea + carea - inner
    else:
        outer = (np.maximum(bx2, cx2) - np.minimum(bx1, cx1)) * (
            np.maximum(by2, cy2) - np.minimum(by1, cy1)
        )
    # Only pairs that intersect can drop: for them both areas, the union and
    # the enclosing box are positive, so the divisions below are safe where
    # they count, and no box has more than all of its area inside another.
    # Pairs that do not intersect give 0 / x = 0 or 0 / 0 = NaN, over no bar
    # of 0 or more: only a negative bar needs them masked out.
    with np.errstate(divide="ignore", invalid="ignore"):
        result: npt.NDArray[np.bool_] = inner / outer > iou
        if covered < 1.0:
            result |= inner / np.minimum(barea, carea) > covered
    if iou < 0 or covered < 0:
        result &= inner > 0
    if groups is not None:
        result &= groups[pick] == groups[columns]
    return result


def _greedy_by_matrix(
    ranked: _Ranked,
    iou: float,
    covered: float,
    union: Literal["area", "enclosing"],
    groups: npt.NDArray[Any] | None,
) -> list[int]:
    count = len(ranked[0])
    drops = _drops(ranked, slice(None), slice(None), iou, covered, union, groups)
    # Each kept box's row of verdicts as one Python integer (bit c: drops box c),
    # so the greedy pass is a few integer operations per box, not numpy calls.
    rows = np.packbits(drops, axis=1, bitorder="little").tobytes()
    width = (count + 7) // 8
    dropped = 0
    kept: list[int] = []
    for rank in range(count):
        if not dropped >> rank & 1:
            kept.append(rank)
            # Bits of earlier ranks (already decided) and of the box itself are never read again.
            dropped |= int.from_bytes(rows[rank * width : (rank + 1) * width], "little")
    return kept


def _greedy_by_rows(
    ranked: _Ranked,
    iou: float,
    covered: float,
    union: Literal["area", "enclosing"],
    groups: npt.NDArray[Any] | None,
) -> list[int]:
    count = len(ranked[0])
    alive = np.ones(count, dtype=bool)
    kept: list[int] = []
    for rank in range(count):
        if not alive[rank]:
            continue
        kept.append(rank)
        rest = np.flatnonzero(alive[rank + 1 :]) + rank + 1
        if len(rest):
            alive[rest[_drops(ranked, rank, rest, iou, covered, union, groups)]] = False
    return kept
