"""A parsed dlib network rebuilt as an ONNX graph, with dlib's preprocessing inside.

For the ResNet embedder (``input_rgb_image_sized``) the graph takes ``image``:
a batch of ``uint8`` RGB chips, ``(n, rows, columns, 3)`` (NHWC, as numpy
holds them), subtracts the input layer's mean colour and divides by 256 in
float32 exactly as dlib does, then runs the layers in NCHW.

For the MMOD detector (``input_rgb_image_pyramid``) dlib builds an image
pyramid from the *normalised* float image and tiles its levels into one
image; that geometry depends on the image size, so it is done outside the
graph (:mod:`facewarden.vision.mmod_geometry`) and the graph takes
``tensor``, the tiled float32 ``(n, 3, rows, columns)``. The values the
decoder needs (mean colour, pyramid paddings and downsampling rate, detector
window, NMS thresholds, and the output-to-input coordinate map of the
convolutions) are stored in the model's metadata under ``facewarden.*``.

The output is dlib's last tensor before the loss:

* the ResNet embedder: ``descriptors``, ``(n, 128)``, dlib's raw (not yet
  normalised) face descriptors;
* the MMOD detector: ``scores``, ``(n, 1, rows', columns')``, the detector
  window's score at each position of the (tiled pyramid) image; decoding the
  boxes is :mod:`facewarden.vision.onnx_detect`'s job.

Shapes follow dlib's formulas (``1 + (size + 2 * padding - window) // stride``),
and ``add_prev`` of tensors of different sizes zero-pads the smaller one at the
end of each dimension, as dlib's ``tt::add`` does. An ``affine`` layer right
after a convolution is folded into it (``fold_affine``); that changes the
float rounding by about 1e-7 relative, far inside the equivalence tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from facewarden.convert.architectures import match, token_kind
from facewarden.convert.dlib_layers import (
    Affine,
    Conv,
    DlibNetwork,
    FullyConnected,
    Layer,
    LossMetric,
    LossMmod,
    Pool,
)
from facewarden.errors import ModelError

__all__ = ["INPUT_NAME", "OPSET", "PYRAMID_INPUT_NAME", "build_onnx"]

INPUT_NAME = "image"
PYRAMID_INPUT_NAME = "tensor"
#: dlib's MMOD face detector is ``input_rgb_image_pyramid<pyramid_down<6>>``: the C++
#: type fixes the downsampling rate (5/6 per level), the file does not record it.
PYRAMID_DOWN = {"mmod_detector": 6}
OPSET = 17
_IR_VERSION = 8  # readable by onnxruntime 1.10 and later

Shape = tuple[int, int | None, int | None]  # (channels, rows, columns); None: dynamic


@dataclass
class _Graph:
    """Nodes and weights being collected, with the current tensor and its shape."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    weights: list[onnx.TensorProto] = field(default_factory=list)
    current: str = ""
    shape: Shape = (0, None, None)
    counter: int = 0

    def name(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}_{self.counter}"

    def constant(self, stem: str, value: np.ndarray) -> str:
        name = self.name(stem)
        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], **attributes: Any) -> str:
        output = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], **attributes))
        self.current = output
        return output


def _out_size(size: int | None, window: int, stride: int, padding: int, where: str) -> int | None:
    if size is None:
        return None
    span = size + 2 * padding - window
    if span < 0:
        raise ModelError(f"{where}: a {window}-wide window does not fit a {size}-wide input")
    return 1 + span // stride


def _input(graph: _Graph, network: DlibNetwork) -> onnx.ValueInfoProto:
    size = network.input.size
    if size is None:  # the tiled pyramid, normalised and tiled by the caller
        graph.current = PYRAMID_INPUT_NAME
        graph.shape = (3, None, None)
        return helper.make_tensor_value_info(
            PYRAMID_INPUT_NAME, TensorProto.FLOAT, ["batch", 3, "rows", "columns"]
        )
    info = helper.make_tensor_value_info(
        INPUT_NAME, TensorProto.UINT8, ["batch", size[0], size[1], 3]
    )
    mean = np.array(network.input.mean_rgb, dtype=np.float32).reshape(1, 3, 1, 1)
    graph.current = INPUT_NAME
    # Channels first before any arithmetic: ONNX Runtime broadcasts a per-channel
    # mean over rows of 3 values (NHWC) element by element, which cost 5% of the
    # ResNet's time; over planes (NCHW) it is one vector loop per channel. The
    # values are the same either way.
    graph.node("Transpose", [graph.current], perm=[0, 3, 1, 2])
    graph.node("Cast", [graph.current], to=TensorProto.FLOAT)
    graph.node("Sub", [graph.current, graph.constant("mean_rgb", mean)])
    # x * (1/256) is exact in float32, like dlib's x / 256.
    graph.node("Mul", [graph.current, graph.constant("scale", np.array(1 / 256, np.float32))])
    graph.shape = (3, size[0], size[1])
    return info


def _conv(graph: _Graph, conv: Conv, affine: Affine | None, where: str) -> None:
    filters, channels, rows, columns = conv.weights.shape
    if channels != graph.shape[0]:
        raise ModelError(f"{where}: filters for {channels} channels on {graph.shape[0]} channels")
    weights, bias = conv.weights, conv.bias
    if affine is not None:
        weights = (weights * affine.gamma[:, None, None, None]).astype(np.float32)
        bias = (bias * affine.gamma + affine.beta).astype(np.float32)
    (pad_y, pad_x), (stride_y, stride_x) = conv.padding, conv.stride
    graph.node(
        "Conv",
        [graph.current, graph.constant("filters", weights), graph.constant("bias", bias)],
        kernel_shape=[rows, columns],
        strides=[stride_y, stride_x],
        pads=[pad_y, pad_x, pad_y, pad_x],
    )
    graph.shape = (
        filters,
        _out_size(graph.shape[1], rows, stride_y, pad_y, where),
        _out_size(graph.shape[2], columns, stride_x, pad_x, where),
    )


def _affine(graph: _Graph, affine: Affine, where: str) -> None:
    if affine.gamma.size != graph.shape[0]:
        raise ModelError(f"{where}: affine of {affine.gamma.size} channels on {graph.shape[0]}")
    gamma = affine.gamma.reshape(1, -1, 1, 1)
    beta = affine.beta.reshape(1, -1, 1, 1)
    graph.node("Mul", [graph.current, graph.constant("gamma", gamma)])
    graph.node("Add", [graph.current, graph.constant("beta", beta)])


def _pool(graph: _Graph, pool: Pool, where: str) -> None:
    channels, rows, columns = graph.shape
    if pool.window == (0, 0):
        op = "GlobalMaxPool" if pool.kind == "max_pool" else "GlobalAveragePool"
        graph.node(op, [graph.current])
        graph.shape = (channels, 1, 1)
        return
    if min(pool.window) == 0 or (pool.kind == "avg_pool" and pool.padding != (0, 0)):
        raise ModelError(f"{where}: unsupported pooling {pool}")
    (pad_y, pad_x), (stride_y, stride_x) = pool.padding, pool.stride
    graph.node(
        "MaxPool" if pool.kind == "max_pool" else "AveragePool",
        [graph.current],
        kernel_shape=list(pool.window),
        strides=[stride_y, stride_x],
        pads=[pad_y, pad_x, pad_y, pad_x],
    )
    graph.shape = (
        channels,
        _out_size(rows, pool.window[0], stride_y, pad_y, where),
        _out_size(columns, pool.window[1], stride_x, pad_x, where),
    )


def _padded(
    graph: _Graph, name: str, shape: tuple[int, int, int], target: tuple[int, int, int]
) -> str:
    if shape == target:
        return name
    ends = [t - s for s, t in zip(shape, target, strict=True)]
    pads = np.array([0, 0, 0, 0, 0, *ends], dtype=np.int64)
    output = graph.name("pad")
    graph.nodes.append(helper.make_node("Pad", [name, graph.constant("pads", pads)], [output]))
    return output


def _add_prev(graph: _Graph, tagged: tuple[str, Shape], where: str) -> None:
    (other, (c1, r1, w1)), (c0, r0, w0) = tagged, graph.shape
    if r0 is None or w0 is None or r1 is None or w1 is None:
        if (c0, r0, w0) != (c1, r1, w1):
            raise ModelError(f"{where}: add_prev of {graph.shape} and {tagged[1]}, sizes unknown")
        graph.node("Add", [graph.current, other])
        return
    # dlib adds tensors of different sizes by treating what is missing as zero.
    target = (max(c0, c1), max(r0, r1), max(w0, w1))
    left = _padded(graph, graph.current, (c0, r0, w0), target)
    right = _padded(graph, other, (c1, r1, w1), target)
    graph.node("Add", [left, right])
    graph.shape = target


def _fc(graph: _Graph, fc: FullyConnected, where: str) -> None:
    channels, rows, columns = graph.shape
    if rows is None or columns is None or channels * rows * columns != fc.weights.shape[0]:
        raise ModelError(f"{where}: fc with {fc.weights.shape[0]} inputs on {graph.shape}")
    graph.node("Flatten", [graph.current], axis=1)
    graph.node("MatMul", [graph.current, graph.constant("fc_weights", fc.weights)])
    if fc.bias is not None:
        graph.node("Add", [graph.current, graph.constant("fc_bias", fc.bias)])
    graph.shape = (fc.weights.shape[1], None, None)


def _layers(graph: _Graph, layers: tuple[Layer, ...], tokens: tuple[str, ...], fold: bool) -> None:
    tags: dict[int, tuple[str, Shape]] = {}
    index = 0
    while index < len(layers):
        layer, (kind, number) = layers[index], token_kind(tokens[index])
        where = f"layer {index + 1} ({tokens[index]})"
        following = layers[index + 1] if index + 1 < len(layers) else None
        if isinstance(layer, Conv):
            affine = following if fold and isinstance(following, Affine) else None
            _conv(graph, layer, affine, where)
            index += 1 if affine is not None else 0
        elif isinstance(layer, Affine):
            _affine(graph, layer, where)
        elif layer.kind == "relu":
            graph.node("Relu", [graph.current])
        elif isinstance(layer, Pool):
            _pool(graph, layer, where)
        elif isinstance(layer, FullyConnected):
            _fc(graph, layer, where)
        elif kind == "tag" and number is not None:
            tags[number] = (graph.current, graph.shape)
        elif kind in ("skip", "add_prev") and number is not None:
            if number not in tags:
                raise ModelError(f"{where}: tag{number} is used before it is set")
            if kind == "skip":
                graph.current, graph.shape = tags[number]
            else:
                _add_prev(graph, tags[number], where)
        else:
            raise ModelError(f"{where}: no ONNX translation for {layer.kind!r}")
        index += 1


def build_onnx(network: DlibNetwork, model: str, *, fold_affine: bool = True) -> onnx.ModelProto:
    """The ONNX model of ``network``, checked against the architecture of ``model``.

    Args:
        network: a parsed dlib network.
        model: its name in :data:`facewarden.models.MODEL_FILES`
            (``resnet_embedder`` or ``mmod_detector``).
        fold_affine: fold affine layers into the convolutions before them.

    Raises:
        ModelError: the network does not follow the architecture, or a layer
            has no faithful ONNX translation.
    """
    tokens = match(network, model)
    graph = _Graph()
    image = _input(graph, network)
    _layers(graph, network.layers, tokens, fold_affine)
    dims: list[str | int | None]
    if isinstance(network.loss, LossMetric):
        output_name, dims = "descriptors", ["batch", graph.shape[0]]
    else:
        output_name, dims = "scores", ["batch", graph.shape[0], "score_rows", "score_columns"]
    graph.nodes.append(helper.make_node("Identity", [graph.current], [output_name]))
    output = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, dims)
    proto = helper.make_model(
        helper.make_graph(graph.nodes, f"dlib_{model}", [image], [output], graph.weights),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="facewarden",
        doc_string=f"converted from dlib's {model} (sha256 {network.sha256})",
    )
    proto.ir_version = _IR_VERSION
    if isinstance(network.loss, LossMmod):
        helper.set_model_props(proto, _mmod_metadata(network, network.loss, model))
    onnx.checker.check_model(proto)
    return proto


def _output_to_input(layers: tuple[Layer, ...]) -> tuple[float, float, float, float]:
    """``(scale_x, offset_x, scale_y, offset_y)``: an output position's point in the input.

    dlib maps a point back through each convolution as
    ``p * stride - padding + window // 2``, from the last layer to the first.
    """
    scale_x, offset_x, scale_y, offset_y = 1.0, 0.0, 1.0, 0.0
    for layer in reversed(layers):
        if isinstance(layer, Conv):
            (stride_y, stride_x), (pad_y, pad_x) = layer.stride, layer.padding
            rows, columns = layer.weights.shape[2:]
            offset_x = offset_x * stride_x - pad_x + columns // 2
            offset_y = offset_y * stride_y - pad_y + rows // 2
            scale_x, scale_y = scale_x * stride_x, scale_y * stride_y
        elif layer.kind not in ("affine", "relu"):
            raise ModelError(f"no coordinate map through {layer.kind!r} in a detector")
    return scale_x, offset_x, scale_y, offset_y


def _mmod_metadata(network: DlibNetwork, loss: LossMmod, model: str) -> dict[str, str]:
    if len(loss.windows) != 1 or model not in PYRAMID_DOWN:
        raise ModelError(f"{model}: only one detector window on a known pyramid is supported")
    (width, height), source = loss.windows[0], network.input
    return {
        "facewarden.mean_rgb": ",".join(repr(v) for v in source.mean_rgb),
        "facewarden.pyramid_down": str(PYRAMID_DOWN[model]),
        "facewarden.pyramid_padding": str(source.pyramid_padding),
        "facewarden.pyramid_outer_padding": str(source.pyramid_outer_padding),
        "facewarden.window": f"{width},{height}",
        "facewarden.nms": f"{loss.nms_iou!r},{loss.nms_covered!r}",
        "facewarden.output_to_input": ",".join(repr(v) for v in _output_to_input(network.layers)),
    }
