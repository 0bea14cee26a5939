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
