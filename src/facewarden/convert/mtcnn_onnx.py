"""MTCNN's three networks rebuilt as ONNX graphs from the ``mtcnn`` wheel's weights.

Each graph takes ``image``: float32 pixels ``(n, rows, columns, 3)`` (NHWC,
RGB, 0..255, as numpy holds them), normalises them as the networks were
trained (``(pixel - 127.5) / 128``) and runs the layers in NCHW:

* ``pnet`` (any size, fully convolutional): ``regression`` ``(n, 4, rows',
  columns')`` box offsets and ``probability`` ``(n, rows', columns')`` that a
  12x12 window at stride 2 holds a face;
* ``rnet`` (24x24 crops): ``regression`` ``(n, 4)`` and ``probability`` ``(n,)``;
* ``onet`` (48x48 crops): ``regression`` ``(n, 4)``, ``landmarks`` ``(n, 10)``
  (five x, then five y, relative to the crop) and ``probability`` ``(n,)``.

The layers follow the Keras definitions of ``mtcnn`` 1.0.0 exactly: valid
3x3 (2x2) convolutions, PReLU per channel, max pooling with TensorFlow's
``same`` padding (``SAME_UPPER``: the extra row and column at the end), and
before the dense layers Keras' ``Permute((2, 1, 3))`` then ``Flatten``, i.e.
the feature map flattened in (column, row, channel) order.

Two layers are written in an equivalent form that ONNX Runtime runs faster
(the same outputs within 1e-6; measured on one core, a batch of 55 R-Net crops
went from 6.6 to 3.4 ms):

* PReLU as ``x * alpha + relu(x) * (1 - alpha)``: ONNX Runtime's own
  ``PRelu`` with a per-channel slope took half of each network's time;
* the two-way softmax of the face head as ``sigmoid(z_face - z_background)``,
  with the difference folded into the head's weights: one output channel
  instead of two and no softmax.

One more change of form keeps R-Net in ONNX Runtime's blocked (NCHWc) kernels,
which hold channels in blocks of 16 (AVX-512; 8 on AVX2): its first
convolution has 28 filters, and ONNX Runtime leaves the blocked layout around
the pooling of a channel count that is not a whole number of blocks (a
quarter of R-Net's time went there). Such a convolution, where the padding is
cheap (at most a quarter more filters) and it feeds another convolution, gets
zero filters up to the next multiple of 16, and the next convolution zero
weights for them: those channels hold 0 through PReLU and pooling and add
nothing. R-Net went from about 74 to 52 us a crop on one core (outputs equal to
the bit on the crops tried). P-Net's first convolution (10 filters) stays: 16 would
cost more than the pooling it saves.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from facewarden.convert.mtcnn_weights import NETWORKS, FloatArray
from facewarden.errors import ModelError

__all__ = ["CROP_SIZES", "INPUT_NAME", "build_mtcnn"]

INPUT_NAME = "image"
#: The square input of the refinement networks; P-Net takes any size from 12 px.
CROP_SIZES = {"rnet": 24, "onet": 48}
_OPSET = 17
_IR_VERSION = 8

# (kind, layer name, options): the order layers run in, per network.
_LAYERS: dict[str, tuple[tuple[str, str, dict[str, Any]], ...]] = {
    "pnet": (
        ("conv", "conv1", {}),
        ("prelu", "prelu1", {}),
        ("pool", "pool1", {"size": 2, "same": True}),
        ("conv", "conv2", {}),
        ("prelu", "prelu2", {}),
        ("conv", "conv3", {}),
        ("prelu", "prelu3", {}),
    ),
    "rnet": (
        ("conv", "conv1", {}),
        ("prelu", "prelu1", {}),
        ("pool", "pool1", {"size": 3, "same": True}),
        ("conv", "conv2", {}),
        ("prelu", "prelu2", {}),
        ("pool", "pool2", {"size": 3, "same": False}),
        ("conv", "conv3", {}),
        ("prelu", "prelu3", {}),
        ("flatten", "flatten", {}),
        ("dense", "fc4", {}),
        ("prelu", "prelu4", {}),
    ),
    "onet": (
        ("conv", "conv1", {}),
        ("prelu", "prelu1", {}),
        ("pool", "pool1", {"size": 3, "same": True}),
        ("conv", "conv2", {}),
        ("prelu", "prelu2", {}),
        ("pool", "pool2", {"size": 3, "same": False}),
        ("conv", "conv3", {}),
        ("prelu", "prelu3", {}),
        ("pool", "pool3", {"size": 2, "same": True}),
        ("conv", "conv4", {}),
        ("prelu", "prelu4", {}),
        ("flatten", "flatten", {}),
        ("dense", "fc5", {}),
        ("prelu", "prelu5", {}),
    ),
}

# The heads: output name, layer, and whether it is the two-way softmax whose
# second channel (face) is the output.
_HEADS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "pnet": (("regression", "conv4-1", False), ("probability", "conv4-2", True)),
    "rnet": (("regression", "fc5-1", False), ("probability", "fc5-2", True)),
    "onet": (
        ("regression", "fc6-1", False),
        ("landmarks", "fc6-2", False),
        ("probability", "fc6-3", True),
    ),
}


class _Builder:
    def __init__(self, weights: dict[str, FloatArray]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.count = 0

    def constant(self, stem: str, value: np.ndarray) -> str:
        self.count += 1
        name = f"{stem}_{self.count}"
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        self.count += 1
        out = output or f"{op.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x: str, layer: str) -> str:
        kernel = self.weights[f"{layer}.kernel"].transpose(3, 2, 0, 1)  # Keras HWIO -> OIHW
        bias = self.weights[f"{layer}.bias"]
        return self.node(
            "Conv", [x, self.constant(f"{layer}_w", kernel), self.constant(f"{layer}_b", bias)]
        )

    def prelu(self, x: str, layer: str, spatial: bool) -> str:
        # PReLU(x) = x * alpha + relu(x) * (1 - alpha), for any alpha (the
        # wheel's slopes run from -1.3 to 1.3, so max(x, alpha * x) would not do).
        alpha = self.weights[f"{layer}.alpha"]
        shape = (-1, 1, 1) if spatial else (-1,)
        slope = self.constant(f"{layer}_slope", alpha.reshape(shape))
        rest = self.constant(f"{layer}_rest", (1 - alpha).reshape(shape))
        linear = self.node("Mul", [x, slope])
        rectified = self.node("Mul", [self.node("Relu", [x]), rest])
        return self.node("Add", [linear, rectified])

    def dense(self, x: str, layer: str) -> str:
        kernel, bias = self.weights[f"{layer}.kernel"], self.weights[f"{layer}.bias"]
        return self.node(
            "Gemm", [x, self.constant(f"{layer}_w", kernel), self.constant(f"{layer}_b", bias)]
        )

    def face_probability(self, x: str, layer: str, spatial: bool, output: str) -> str:
        """The face channel of the head's two-way softmax, as the sigmoid of the logits' gap.

        softmax(z)[1] = sigmoid(z[1] - z[0]); the gap is one linear layer whose
        weights are the difference of the face and background columns.
        """
        kernel, bias = self.weights[f"{layer}.kernel"], self.weights[f"{layer}.bias"]
        if kernel.shape[-1] != 2 or bias.shape != (2,):
            raise ModelError(f"{layer} must have two outputs (background, face)")
        gap_kernel = kernel[..., 1:] - kernel[..., :1]
        gap_bias = bias[1:] - bias[:1]
        if spatial:
            weights = self.constant(f"{layer}_w", gap_kernel.transpose(3, 2, 0, 1))
            logit = self.node("Conv", [x, weights, self.constant(f"{layer}_b", gap_bias)])
        else:
            weights = self.constant(f"{layer}_w", gap_kernel)
            logit = self.node("Gemm", [x, weights, self.constant(f"{layer}_b", gap_bias)])
        probability = self.node("Sigmoid", [logit])
        axes = self.constant("axes", np.array([1], dtype=np.int64))
        return self.node("Squeeze", [probability, axes], output)


def build_mtcnn(network: str, weights: dict[str, FloatArray]) -> onnx.ModelProto:
    """The ONNX graph of ``network`` (``pnet``, ``rnet``, ``onet``) with ``weights``.

    Raises:
        ModelError: an unknown network, or weights that do not fit it.
    """
    if network not in NETWORKS:
        raise ModelError(f"unknown MTCNN network {network!r}; choose one of: {', '.join(NETWORKS)}")
    try:
        weights = _widened(network, weights)
    except KeyError as exc:
        raise ModelError(f"the {network} weights lack {exc}") from exc
    builder = _Builder(weights)
    size = CROP_SIZES.get(network)
    x = builder.node("Sub", [INPUT_NAME, builder.constant("mean", np.array(127.5, np.float32))])
    x = builder.node("Mul", [x, builder.constant("scale", np.array(1 / 128, np.float32))])
    x = builder.node("Transpose", [x], perm=[0, 3, 1, 2])
    spatial = True
    try:
        for kind, layer, options in _LAYERS[network]:
            if kind == "conv":
                x = builder.conv(x, layer)
            elif kind == "prelu":
                x = builder.prelu(x, layer, spatial)
            elif kind == "pool":
                pad = {"auto_pad": "SAME_UPPER"} if options["same"] else {}
                k = options["size"]
                x = builder.node("MaxPool", [x], kernel_shape=[k, k], strides=[2, 2], **pad)
            elif kind == "flatten":
                # Keras' Permute((2, 1, 3)) on NHWC is (n, columns, rows, channels).
                x = builder.node("Transpose", [x], perm=[0, 3, 2, 1])
                x = builder.node("Flatten", [x], axis=1)
                spatial = False
            else:
                x = builder.dense(x, layer)
        outputs = []
        for output, layer, softmax in _HEADS[network]:
            if softmax:
                builder.face_probability(x, layer, spatial, output)
            else:
                head = builder.dense(x, layer) if not spatial else builder.conv(x, layer)
                builder.node("Identity", [head], output)
            outputs.append(output)
    except KeyError as exc:
        raise ModelError(f"the {network} weights lack {exc}") from exc
    rows: int | str = size if size else "rows"
    columns: int | str = size if size else "columns"
    graph = helper.make_graph(
        builder.nodes,
        f"mtcnn_{network}",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["n", rows, columns, 3])],
        [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, _output_shape(name, size))
            for name in outputs
        ],
        builder.initializers,
    )
    proto = helper.make_model(
        graph,
        producer_name="facewarden",
        opset_imports=[helper.make_opsetid("", _OPSET)],
    )
    proto.ir_version = _IR_VERSION
    onnx.checker.check_model(proto)
    return proto


#: ONNX Runtime's blocked layout holds channels in blocks of this many (AVX-512; 8 on
#: AVX2, which divides it).
_CHANNEL_BLOCK = 16


def _widened(network: str, weights: dict[str, FloatArray]) -> dict[str, FloatArray]:
    """``weights`` with zero channels added where a convolution feeds another one.

    A convolution's filters go up to a multiple of :data:`_CHANNEL_BLOCK`
    (zero kernel and bias, zero PReLU slope) when that adds at most a quarter
    more, and the next convolution gets zero input weights for the added
    channels: they hold 0 from the first convolution through PReLU and
    pooling, and the second adds 0 for them.
    """
    out = dict(weights)
    layers = [(kind, layer) for kind, layer, _ in _LAYERS[network] if kind in ("conv", "dense")]
    for (kind, layer), (next_kind, next_layer) in itertools.pairwise(layers):
        channels = out[f"{layer}.kernel"].shape[3]
        extra = -channels % _CHANNEL_BLOCK
        if kind != "conv" or next_kind != "conv" or not 0 < extra <= channels // 4:
            continue
        out[f"{layer}.kernel"] = np.pad(
            out[f"{layer}.kernel"], ((0, 0), (0, 0), (0, 0), (0, extra))
        )
        out[f"{layer}.bias"] = np.pad(out[f"{layer}.bias"], (0, extra))
        alpha = f"prelu{layer.removeprefix('conv')}.alpha"  # conv1 -> prelu1
        out[alpha] = np.pad(out[alpha], [(0, 0)] * (out[alpha].ndim - 1) + [(0, extra)])
        following = out[f"{next_layer}.kernel"]
        out[f"{next_layer}.kernel"] = np.pad(following, ((0, 0), (0, 0), (0, extra), (0, 0)))
    return out


def _output_shape(output: str, size: int | None) -> list[int | str]:
    width = {"regression": [4], "landmarks": [10], "probability": []}[output]
    if size:
        return ["n", *width]
    return ["n", *width, "rows_out", "columns_out"]
