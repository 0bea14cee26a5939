"""The one non-maximum suppression routine, on tables of boxes."""

from __future__ import annotations

import numpy as np
import pytest

from facewarden.vision.nms import suppress

A = (0, 0, 10, 10)
A_SHIFTED = (1, 0, 11, 10)  # IoU 9/11 with A
FAR = (50, 50, 60, 60)
INSIDE_A = (2, 2, 6, 6)  # area 16, all of it inside A: IoU 0.16


@pytest.mark.parametrize(
    ("boxes", "scores", "options", "kept"),
    [
        ([], [], {"iou": 0.5}, []),
        ([A, A_SHIFTED, FAR], [0.9, 0.8, 0.7], {"iou": 0.5}, [0, 2]),
        ([A, A_SHIFTED, FAR], [0.7, 0.8, 0.9], {"iou": 0.5}, [2, 1]),
        ([A, A_SHIFTED], [0.9, 0.8], {"iou": 0.9}, [0, 1]),
        ([A, INSIDE_A], [0.9, 0.8], {"iou": 0.5}, [0, 1]),
        ([A, INSIDE_A], [0.9, 0.8], {"iou": 0.5, "covered": 0.7}, [0]),
        ([A, A], [0.5, 0.5], {"iou": 0.5}, [0]),  # ties keep the input order
        ([(5, 5, 5, 9), A], [0.9, 0.8], {"iou": 0.0}, [0, 1]),  # degenerate: overlaps nothing
    ],
)
def test_suppress(
    boxes: list[tuple[int, ...]], scores: list[float], options: dict[str, float], kept: list[int]
) -> None:
    assert suppress(boxes, scores, **options).tolist() == kept  # type: ignore[arg-type]


def test_the_enclosing_measure_is_stricter_than_the_union() -> None:
    # Offset diagonally: IoU 64/136 = 0.47, intersection over the enclosing box 64/144 = 0.44.
    boxes = [(0, 0, 10, 10), (2, 2, 12, 12)]
    assert suppress(boxes, [1, 0], iou=0.45).tolist() == [0]
    assert suppress(boxes, [1, 0], iou=0.45, union="enclosing").tolist() == [0, 1]


def test_boxes_and_scores_must_pair() -> None:
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        suppress(np.zeros((2, 4)), [1.0], iou=0.5)


def _reference(boxes: np.ndarray, scores: np.ndarray, iou: float, covered: float) -> list[int]:
    """Greedy suppression written plainly, pair by pair."""
    kept: list[int] = []
    for i in sorted(range(len(scores)), key=lambda k: (-scores[k], k)):
        ax1, ay1, ax2, ay2 = boxes[i]
        dropped = False
        for j in kept:
            bx1, by1, bx2, by2 = boxes[j]
            inner = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(
                0.0, min(ay2, by2) - max(ay1, by1)
            )
            if inner <= 0:
                continue
            area_a, area_b = (ax2 - ax1) * (ay2 - ay1), (bx2 - bx1) * (by2 - by1)
            if inner / (area_a + area_b - inner) > iou or inner / min(area_a, area_b) > covered:
                dropped = True
                break
        if not dropped:
            kept.append(i)
    return kept


@pytest.mark.parametrize("count", [0, 1, 40, 255, 256, 257, 600])
@pytest.mark.parametrize(
    ("iou", "covered"),
    # Bars of 0 and below too: there, boxes that merely touch or lie apart must
    # still never drop each other (the matrix pass masks them only for a negative bar).
    [(0.5, 1.0), (0.7, 0.7), (0.3, 0.5), (0.0, 1.0), (0.5, 0.0), (-0.1, 1.0), (0.5, -0.1)],
)
def test_agrees_with_the_pairwise_definition(count: int, iou: float, covered: float) -> None:
    # Clustered boxes, as a detector's windows are, with tied and degenerate ones;
    # sizes on both sides of the all-pairs fast path's limit.
    rng = np.random.default_rng(count)
    centres = rng.uniform(0, 400, (max(1, count // 8), 2))
    corner = centres[rng.integers(0, len(centres), count)] + rng.normal(0, 5, (count, 2))
    size = rng.uniform(10, 30, (count, 2)) * (rng.random((count, 1)) > 0.03)
    boxes = np.column_stack([corner, corner + size])
    scores = rng.choice([0.6, 0.7, 0.8, 0.9], count)
    kept = suppress(boxes, scores, iou=iou, covered=covered)
    assert kept.tolist() == _reference(boxes, scores, iou, covered)


@pytest.mark.parametrize("count", [2, 200, 600])
def test_groups_keep_what_one_call_per_group_keeps(count: int) -> None:
    # Boxes of three groups on top of each other: across groups nothing is dropped,
    # within each the verdicts of a call of its own (both the all-pairs and the
    # row-by-row pass).
    rng = np.random.default_rng(count)
    corner = rng.uniform(0, 60, (count, 2))
    boxes = np.column_stack([corner, corner + rng.uniform(10, 30, (count, 2))])
    scores = rng.choice([0.6, 0.7, 0.8, 0.9], count)
    groups = rng.integers(0, 3, count)
    kept = suppress(boxes, scores, iou=0.5, groups=groups)
    for group in range(3):
        members = np.flatnonzero(groups == group)
        alone = members[suppress(boxes[members], scores[members], iou=0.5)]
        assert kept[groups[kept] == group].tolist() == alone.tolist()
    assert len(kept) > len(suppress(boxes, scores, iou=0.5)) or count == 2


def test_groups_must_pair_with_boxes() -> None:
    with pytest.raises(ValueError, match="2 boxes but 1 group labels"):
        suppress(np.zeros((2, 4)), [1.0, 0.5], iou=0.5, groups=[0])
