"""MTCNN's ONNX graphs against the Keras layers written out in numpy, on the wheel's weights.

The graphs compute PReLU and the face softmax in rewritten forms that ONNX
Runtime runs faster; this reference computes them as Keras defines them, so
a rewrite that changed a result would show here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from facewarden.convert.cache import converted_mtcnn
from facewarden.convert.mtcnn_weights import read_weights
from facewarden.vision.onnx_session import run, session

Array = npt.NDArray[np.float64]


def _conv(x: Array, kernel: Array, bias: Array) -> Array:
    """Keras Conv2D, valid padding, stride 1, NHWC input, HWIO kernel."""
    rows, columns = kernel.shape[:2]
    windows = np.lib.stride_tricks.sliding_window_view(x, (rows, columns), axis=(1, 2))
    # windows: (n, out_rows, out_columns, in, rows, columns)
    return np.einsum("nyxcij,ijco->nyxo", windows, kernel) + bias


def _prelu(x: Array, alpha: Array) -> Array:
    return np.where(x >= 0, x, x * alpha.reshape(-1))


def _pool(x: Array, size: int, same: bool) -> Array:
    """Keras MaxPooling2D, stride 2; ``same`` pads at the end as TensorFlow does."""
    if same:
        padded = []
        for axis in (1, 2):
            length = x.shape[axis]
            out = -(-length // 2)
            padded.append(max(0, (out - 1) * 2 + size - length))
        x = np.pad(
            x,
            (
                (0, 0),
                (padded[0] // 2, padded[0] - padded[0] // 2),
                (padded[1] // 2, padded[1] - padded[1] // 2),
                (0, 0),
            ),
            constant_values=-np.inf,
        )
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))
    return windows[:, ::2, ::2].max(axis=(-2, -1))


def _softmax_face(z: Array) -> Array:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True))[..., 1]


def _flatten(x: Array) -> Array:
    """Keras Permute((2, 1, 3)) then Flatten: (column, row, channel) order."""
    return x.transpose(0, 2, 1, 3).reshape(len(x), -1)


def _reference(network: str, image: Array, w: dict[str, Any]) -> list[Array]:
    x = (image - 127.5) / 128

    def conv(name: str, value: Array) -> Array:
        return _conv(value, w[f"{name}.kernel"], w[f"{name}.bias"])

    def dense(name: str, value: Array) -> Array:
        return value @ w[f"{name}.kernel"] + w[f"{name}.bias"]

    x = _pool(_prelu(conv("conv1", x), w["prelu1.alpha"]), 2 if network == "pnet" else 3, True)
    x = _prelu(conv("conv2", x), w["prelu2.alpha"])
    if network == "pnet":
        x = _prelu(conv("conv3", x), w["prelu3.alpha"])
        regression = conv("conv4-1", x).transpose(0, 3, 1, 2)
        return [regression, _softmax_face(conv("conv4-2", x))]
    x = _prelu(conv("conv3", _pool(x, 3, False)), w["prelu3.alpha"])
    if network == "rnet":
        x = _prelu(dense("fc4", _flatten(x)), w["prelu4.alpha"])
        return [dense("fc5-1", x), _softmax_face(dense("fc5-2", x))]
    x = _prelu(conv("conv4", _pool(x, 2, True)), w["prelu4.alpha"])
    x = _prelu(dense("fc5", _flatten(x)), w["prelu5.alpha"])
    return [dense("fc6-1", x), dense("fc6-2", x), _softmax_face(dense("fc6-3", x))]


@pytest.mark.parametrize(
    ("network", "shape"),
    [
        ("pnet", (2, 31, 44, 3)),
        ("pnet", (1, 12, 12, 3)),
        ("rnet", (5, 24, 24, 3)),
        ("onet", (4, 48, 48, 3)),
    ],
)
def test_the_graph_computes_the_keras_layers(network: str, shape: tuple[int, ...]) -> None:
    # Natural-looking input: smooth gradients plus noise, so every unit sees
    # both signs (PReLU's two branches) and the face probability spreads out.
    rng = np.random.default_rng(len(network) + shape[0])
    image = np.clip(rng.normal(127, 60, shape), 0, 255).astype(np.float32)
    weights = {k: v.astype(np.float64) for k, v in read_weights(network).items()}
    expected = _reference(network, image.astype(np.float64), weights)
    runtime = session(
        f"test_mtcnn_{network}", lambda: converted_mtcnn(network), threads=1, device="cpu"
    )
    got = run(runtime, {"image": image}, what=network)
    assert [g.shape for g in got] == [e.shape for e in expected]
    for value, reference in zip(got, expected, strict=True):
        np.testing.assert_allclose(value, reference, rtol=0, atol=2e-4)
    probability = got[-1]
    assert probability.min() >= 0 and probability.max() <= 1


def _initializers(network: str) -> dict[str, npt.NDArray[np.float32]]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(converted_mtcnn(network)).graph
    return {t.name.rsplit("_", 1)[0]: numpy_helper.to_array(t) for t in graph.initializer}


def test_rnet_is_widened_to_whole_channel_blocks_with_zero_filters() -> None:
    # R-Net's 28 filters become 32 (ONNX Runtime's blocks of 16 then cover them),
    # the 4 added ones zero, and conv2 reads nothing from them; the reference
    # test above shows the outputs unchanged.
    weights = read_weights("rnet")
    got = _initializers("rnet")
    conv1, conv2 = got["conv1_w"], got["conv2_w"]  # OIHW
    assert conv1.shape == (32, 3, 3, 3) and conv2.shape == (48, 32, 3, 3)
    np.testing.assert_array_equal(conv1[:28], weights["conv1.kernel"].transpose(3, 2, 0, 1))
    assert not conv1[28:].any() and not got["conv1_b"][28:].any()
    assert not conv2[:, 28:].any()
    # P-Net's 10 filters stay 10: 16 would cost more than it saves.
    assert _initializers("pnet")["conv1_w"].shape[0] == 10
