"""The ONNX model computes what the TensorFlow graph says, checked against a plain numpy reading.

The reference below evaluates NanoDet-m's TensorFlow nodes one by one with
TensorFlow's own semantics, in TensorFlow's layouts (NHWC convolutions and
pooling, ``ResizeBilinear`` with ``half_pixel_centers`` as TensorFlow
computes its weights), and none of the ONNX builder's rewrites (no composed
transposes, no folded biases, no resize ratios). On a real street photo
both must give the same six outputs: a converter that slipped a layout, a
padding or a half-pixel offset would still give plausible boxes, but not
these numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from facewarden import imaging
from facewarden.convert.people_model import OUTPUTS, converted_nanodet
from facewarden.convert.tfjs_graph import TfjsGraph, TfjsNode, read_graph

Array = npt.NDArray[Any]
CROWD_PHOTO = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "crowd-dev"
    / "images"
    / "IMG_32.jpg"
)


def _strides(node: TfjsNode, key: str) -> tuple[int, int]:
    values = [int(v) for v in node.attr[key]["list"]["i"]]
    return values[1], values[2]


def _valid(node: TfjsNode) -> None:
    import base64

    assert base64.b64decode(node.attr["padding"]["s"]) == b"VALID"


def _windows(x: Array, size: tuple[int, int], stride: tuple[int, int]) -> Array:
    """(1, rows, columns, channels, kh, kw) windows of an NHWC tensor, VALID padding."""
    view = np.lib.stride_tricks.sliding_window_view(x, size, axis=(1, 2))
    return view[:, :: stride[0], :: stride[1]]


def _resize_bilinear(x: Array, rows: int, columns: int) -> Array:
    """TensorFlow's ResizeBilinear with half_pixel_centers (its compute_interpolation_weights)."""

    def weights(out_size: int, in_size: int) -> tuple[Array, Array, Array]:
        scale = in_size / out_size
        source = (np.arange(out_size) + 0.5) * scale - 0.5
        floor = np.floor(source)
        lower = np.maximum(floor, 0).astype(int)
        upper = np.minimum(np.ceil(source), in_size - 1).astype(int)
        return lower, upper, (source - floor).astype(np.float32)

    top, bottom, y_lerp = weights(rows, x.shape[1])
    left, right, x_lerp = weights(columns, x.shape[2])
    y_lerp, x_lerp = y_lerp[None, :, None, None], x_lerp[None, None, :, None]
    top_row = x[:, top][:, :, left] + (x[:, top][:, :, right] - x[:, top][:, :, left]) * x_lerp
    bottom_row = (
        x[:, bottom][:, :, left] + (x[:, bottom][:, :, right] - x[:, bottom][:, :, left]) * x_lerp
    )
    return top_row + (bottom_row - top_row) * y_lerp


def _reference(graph: TfjsGraph, pixels: Array) -> dict[str, Array]:
    values: dict[str, Any] = {}

    def get(name: str) -> Any:
        node, _, index = name.partition(":")
        found = values[node]
        return found[int(index)] if index else (found[0] if isinstance(found, list) else found)

    for node in graph.needed_in_order():
        inputs = [get(i) for i in node.inputs]
        op = node.op
        if op == "Const":
            out: Any = graph.constants[node.name]
        elif op == "Placeholder":
            out = pixels
        elif op == "Identity":
            out = inputs[0]
        elif op == "Transpose":
            out = np.transpose(inputs[0], inputs[1])
        elif op in ("Pad", "PadV2"):
            fill = float(inputs[2]) if op == "PadV2" else 0.0
            out = np.pad(inputs[0], inputs[1], constant_values=fill)
        elif op == "Conv2D":
            _valid(node)
            kernel = inputs[1]
            windows = _windows(inputs[0], kernel.shape[:2], _strides(node, "strides"))
            # windows: (1, r, c, in, kh, kw); kernel: (kh, kw, in, out).
            out = np.tensordot(windows, kernel, axes=([3, 4, 5], [2, 0, 1]))
        elif op == "MaxPool":
            _valid(node)
            windows = _windows(inputs[0], _strides(node, "ksize"), _strides(node, "strides"))
            out = windows.max(axis=(4, 5))
        elif op in ("Add", "AddV2"):
            out = np.add(inputs[0], inputs[1])
        elif op == "LeakyRelu":
            alpha = np.float32(node.attr["alpha"]["f"])
            out = np.where(inputs[0] > 0, inputs[0], inputs[0] * alpha)
        elif op == "Sigmoid":
            out = 1 / (1 + np.exp(-inputs[0]))
        elif op == "ConcatV2":
            out = np.concatenate(inputs[:-1], axis=int(inputs[-1]))
        elif op == "SplitV":
            out = np.split(inputs[0], np.cumsum(inputs[1])[:-1], axis=int(inputs[2]))
        elif op == "Reshape":
            out = np.reshape(inputs[0], inputs[1])
        elif op == "ResizeBilinear":
            assert node.attr["half_pixel_centers"]["b"] and not node.attr["align_corners"]["b"]
            out = _resize_bilinear(inputs[0], *(int(s) for s in inputs[1]))
        elif op == "SparseToDense":
            out = np.full(inputs[1], inputs[3], dtype=inputs[2].dtype)
            for index, value in zip(inputs[0].reshape(-1, len(inputs[1])), inputs[2], strict=True):
                out[tuple(index)] = value
        else:
            raise AssertionError(f"no reference for {op}")
        if isinstance(out, list):
            values[node.name] = [part.astype(np.float32) for part in out]
        else:
            values[node.name] = out.astype(np.float32) if out.dtype.kind == "f" else out
    return {onnx_name: values[tf_name] for tf_name, onnx_name in OUTPUTS.items()}


def test_the_onnx_model_equals_a_numpy_reading_of_the_tensorflow_graph(
    nanodet_dir: Path, tmp_path: Path
) -> None:
    import cv2
    import onnxruntime

    if not CROWD_PHOTO.is_file():
        pytest.skip(f"{CROWD_PHOTO} is absent (a fresh clone without ../shared); CI has it")
    image = cv2.resize(imaging.decode(CROWD_PHOTO), (416, 416), interpolation=cv2.INTER_AREA)
    bgr = image[..., ::-1].astype(np.float32)
    normalised = (bgr - [103.53, 116.28, 123.675]) / [57.375, 57.12, 58.395]
    pixels = np.ascontiguousarray(normalised.transpose(2, 0, 1)[None], dtype=np.float32)

    expected = _reference(read_graph(nanodet_dir / "nanodet.json"), pixels)
    session = onnxruntime.InferenceSession(converted_nanodet(nanodet_dir, cache=tmp_path))
    names = [o.name for o in session.get_outputs()]
    found = dict(zip(names, session.run(None, {"image": pixels}), strict=True))
    for name, reference in expected.items():
        assert found[name].shape == reference.shape, name
        scale = float(np.abs(reference).max())
        assert np.abs(found[name] - reference).max() <= 1e-4 * max(1.0, scale), name
    # A street photo: some cells are sure of a person (the check is not on empty outputs).
    assert expected["scores_8"][0, :, 0].max() > 0.5
