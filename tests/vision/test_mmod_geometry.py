"""dlib's MMOD geometry, piece by piece: tiling, resizing, box decoding and suppression.

That these pieces together give dlib's own boxes is tested on real photos in
``test_onnx_detect.py``; here each piece is checked against what dlib's source
says it must do.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from facewarden.vision.mmod_geometry import (
    MmodSettings,
    _resize,
    decode,
    nms,
    tile_pyramid,
    tiled_rects,
)

SETTINGS = MmodSettings(
    mean_rgb=(122.782, 117.001, 104.298),
    pyramid_down=6,
    pyramid_padding=10,
    pyramid_outer_padding=11,
    window=(80, 80),
    nms_iou=0.3382761351109955,
    nms_covered=1.0,
    output_to_input=(8.0, 14.0, 8.0, 14.0),
)


def _size(rect: tuple[int, int, int, int]) -> tuple[int, int]:
    return rect[2] - rect[0] + 1, rect[3] - rect[1] + 1


@pytest.mark.parametrize(("rows", "columns"), [(250, 250), (375, 500), (612, 490), (1080, 1920)])
def test_the_pyramid_levels_are_tiled_without_overlap(rows: int, columns: int) -> None:
    rects, total_rows, total_columns = tiled_rects(rows, columns, SETTINGS)
    assert _size(rects[0]) == (columns, rows)
    assert rects[0][:2] == (11, 11)  # the outer padding
    assert total_columns == columns + 22
    for (w0, h0), (w1, h1) in itertools.pairwise(_size(r) for r in rects):
        assert (w1, h1) == (int(w0 * 5 / 6), int(h0 * 5 / 6))  # floor(5/6 * size)
    assert _size(rects[-1])[1] >= 5
    for rect in rects:
        assert 0 <= rect[0] <= rect[2] < total_columns and 0 <= rect[1] <= rect[3] < total_rows
    for a, b in itertools.combinations(rects, 2):
        assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]


def test_an_empty_image_has_no_pyramid() -> None:
    assert tiled_rects(0, 10, SETTINGS) == ([], 0, 0)
    tensor, rects = tile_pyramid(np.zeros((0, 10, 3), np.uint8), SETTINGS)
    assert rects == [] and tensor.size == 0


def test_the_first_tile_holds_the_normalised_image() -> None:
    image = np.full((40, 30, 3), 200, np.uint8)
    tensor, rects = tile_pyramid(image, SETTINGS)
    left, top, right, bottom = rects[0]
    red = tensor[0, 0, top : bottom + 1, left : right + 1]
    np.testing.assert_array_equal(red, np.float32((200 - np.float32(122.782)) / 256))
    assert tensor[0, :, :top].max() == 0  # outside the tiles stays zero


def test_resizing_a_linear_ramp_is_exact() -> None:
    # Bilinear interpolation of a linear function returns the function itself,
    # including at the clamped last row and column.
    ys, xs = np.mgrid[:50, :40].astype(np.float32)
    ramp = (0.5 * xs + 0.25 * ys)[None]
    resized = _resize(ramp, 41, 33)
    out_ys, out_xs = np.mgrid[:41, :33]
    expected = 0.5 * out_xs * (39 / 32) + 0.25 * out_ys * (49 / 40)
    np.testing.assert_allclose(resized[0], expected, atol=1e-5)


@pytest.mark.parametrize(
    ("candidates", "kept"),
    [
        ([], []),
        ([((0, 0, 79, 79), 2.0)], [0]),
        # Shifted by 40 of 80 px: the intersection is 1/3 of both boxes' bounding box,
        # under dlib's 0.338, and half of each box: kept.
        ([((0, 0, 79, 79), 2.0), ((40, 0, 119, 79), 1.0)], [0, 1]),
        # Shifted by 30 px: the intersection is 50/110 of the bounding box: suppressed.
        ([((0, 0, 79, 79), 2.0), ((30, 0, 109, 79), 1.0)], [0]),
        # A small box inside a big one: fully covered, but the covered threshold is 1.0
        # (only "more than all" suppresses) and it is 1/4 of the bounding box: kept.
        ([((0, 0, 79, 79), 2.0), ((20, 20, 59, 59), 1.0)], [0, 1]),
        ([((0, 0, 79, 79), 2.0), ((100, 100, 179, 179), 1.0), ((10, 0, 89, 79), 0.5)], [0, 1]),
    ],
)
def test_nms_keeps_boxes_not_overlapping_a_better_one(candidates, kept) -> None:
    result = nms(candidates, SETTINGS.nms_iou, SETTINGS.nms_covered)
    assert result == [candidates[i] for i in kept]


def test_a_score_peak_decodes_to_a_window_centred_on_its_input_point() -> None:
    image = np.zeros((300, 300, 3), np.uint8)
    _, rects = tile_pyramid(image, SETTINGS)
    scores = np.full((40, 40), -1.0, np.float32)
    scores[10, 12] = 0.5  # tiled point (12*8+14, 10*8+14) = (110, 94), in the first tile
    ((rect, score),) = decode(scores, rects, SETTINGS)
    assert score == 0.5
    # Window 80 wide centred on (110, 94), shifted by the tile origin (11, 11), rounded.
    assert rect == (60, 44, 139, 123)


def test_nothing_above_the_threshold_decodes_to_nothing() -> None:
    _, rects = tile_pyramid(np.zeros((100, 100, 3), np.uint8), SETTINGS)
    assert decode(np.zeros((5, 5), np.float32), rects, SETTINGS) == []
