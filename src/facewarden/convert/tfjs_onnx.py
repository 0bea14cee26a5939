"""A checked TensorFlow.js graph (:mod:`facewarden.convert.tfjs_graph`) rebuilt as ONNX.

Each TensorFlow op of :data:`~facewarden.convert.tfjs_graph.SUPPORTED_OPS`
becomes the ONNX op(s) that compute the same thing; anything else, and any
attribute value this module does not understand (a data format other than
NHWC, a padding other than VALID/SAME, a dilated pooling...), is refused
with a :class:`~facewarden.errors.ModelError` naming the node.

TensorFlow's NHWC convolutions and poolings run in ONNX's NCHW between two
transposes; a transpose that follows another is composed with it, and one
that composes to the identity disappears, so a graph exported from NCHW (as
NanoDet was, through onnx-tf) loses the round trips it gained on the way. A
per-channel constant added to a convolution's output becomes the
convolution's bias. Integer ops on constants (the shape arithmetic onnx-tf
leaves behind: ``SparseToDense``, ``AddV2``) are computed here, once.

The input keeps its height and width free (``rows``, ``columns``): a
``ResizeBilinear`` whose target size is a whole ratio of its input's size at
the declared input shape becomes a resize by that ratio, so a fully
convolutional detector runs on any input whose sides are multiples of its
largest stride.
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

from facewarden.convert.tfjs_graph import TfjsGraph, TfjsNode
from facewarden.errors import ModelError

__all__ = ["INPUT_NAME", "build_onnx_from_tfjs"]

INPUT_NAME = "image"
_OPSET = 17
_IR_VERSION = 8
_TO_NCHW = (0, 3, 1, 2)
_TO_NHWC = (0, 2, 3, 1)


def _text(node: TfjsNode, key: str, default: str | None = None) -> str:
    value = node.attr.get(key, {}).get("s") if isinstance(node.attr.get(key), dict) else None
    if value is None:
        if default is None:
            raise ModelError(f"node {node.name!r} lacks the attribute {key!r}")
        return default
    return base64.b64decode(value).decode("ascii", "replace")


def _ints(node: TfjsNode, key: str, default: list[int] | None = None) -> list[int]:
    entry = node.attr.get(key)
    values = entry.get("list", {}).get("i") if isinstance(entry, dict) else None
    if values is None:
        if default is None:
            raise ModelError(f"node {node.name!r} lacks the attribute {key!r}")
        return default
    return [int(v) for v in values]


def _flag(node: TfjsNode, key: str) -> bool:
    entry = node.attr.get(key)
    return bool(entry.get("b", False)) if isinstance(entry, dict) else False


class _Builder:
    def __init__(self, graph: TfjsGraph) -> None:
        self.graph = graph
        self.by_name = {n.name: n for n in graph.nodes}
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        # TensorFlow tensor ("node" or "node:k") -> ONNX value name or a folded constant.
        self.values: dict[str, str | npt.NDArray[Any]] = {}
        self.transposed: dict[str, tuple[str, tuple[int, ...]]] = {}  # output -> (input, perm)
        # NHWC output -> (its Conv, the TensorFlow node, output channels), until given a bias.
        self.conv_output: dict[str, tuple[onnx.NodeProto, str, int]] = {}
        self.readers = Counter(i.split(":")[0] for n in graph.nodes for i in n.inputs)
        self.count = 0
        self.input_shape: tuple[int, ...] = ()
        self.current = ""

    # -- helpers -------------------------------------------------------------
    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def constant(self, value: npt.NDArray[Any], stem: str = "const") -> str:
        name = self.fresh(stem)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def emit(self, op: str, inputs: list[str], outputs: int = 1, **attrs: Any) -> list[str]:
        names = [self.fresh(op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, name=self.origin(), **attrs))
        return names

    def origin(self) -> str:
        """A name for the next ONNX node: the TensorFlow node it comes from (for error messages)."""
        return self.fresh(self.current)

    def value(self, tensor: str) -> str | npt.NDArray[Any]:
        key = tensor[:-2] if tensor.endswith(":0") else tensor
        if key not in self.values:
            raise ModelError(f"no value for {tensor!r}")
        return self.values[key]

    def tensor(self, tensor: str) -> str:
        """``tensor`` as an ONNX value name (a folded constant becomes an initializer)."""
        found = self.value(tensor)
        return found if isinstance(found, str) else self.constant(found)

    def folded(self, node: TfjsNode, index: int) -> npt.NDArray[Any]:
        found = self.value(node.inputs[index])
        if isinstance(found, str):
            raise ModelError(f"node {node.name!r}: input {index} must be a constant")
        return found

    def transpose(self, x: str, perm: tuple[int, ...]) -> str:
        source, earlier = self.transposed.get(x, (None, None))
        if source is not None and earlier is not None:
            composed = tuple(earlier[p] for p in perm)
            if composed == tuple(range(len(perm))):
                return source
            x, perm = source, composed
        out = self.emit("Transpose", [x], perm=list(perm))[0]
        self.transposed[out] = (x, perm)
        return out

    # -- ops -------------------------------------------------------------------
    def visit(self, node: TfjsNode) -> None:
        handler = getattr(self, f"op_{node.op}", None)
        if handler is None:
            raise ModelError(f"node {node.name!r}: op {node.op!r} is not supported")
        self.current = node.name
        handler(node)

    def op_Const(self, node: TfjsNode) -> None:  # noqa: N802 - TensorFlow's op names
        self.values[node.name] = self.graph.constants[node.name]

    def op_Placeholder(self, node: TfjsNode) -> None:  # noqa: N802
        dims = node.attr.get("shape", {}).get("shape", {}).get("dim", [])
        shape = tuple(int(d.get("size", -1)) for d in dims)
        if len(shape) != 4 or shape[1] != 3 or min(shape[2:]) <= 0:
            raise ModelError(f"input {node.name!r}: expected (n, 3, rows, columns), got {shape}")
        self.input_shape = shape
        self.values[node.name] = INPUT_NAME

    def op_Identity(self, node: TfjsNode) -> None:  # noqa: N802
        self.values[node.name] = self.value(node.inputs[0])

    def op_Transpose(self, node: TfjsNode) -> None:  # noqa: N802
        perm = tuple(int(p) for p in self.folded(node, 1))
        x = self.value(node.inputs[0])
        self.values[node.name] = (
            np.transpose(x, perm) if not isinstance(x, str) else self.transpose(x, perm)
        )

    def _pad(self, node: TfjsNode, fill: float) -> None:
        paddings = self.folded(node, 1).astype(np.int64)
        if paddings.ndim != 2 or paddings.shape[1] != 2 or (paddings < 0).any():
            raise ModelError(f"node {node.name!r}: malformed paddings {paddings.tolist()}")
        pads = np.concatenate([paddings[:, 0], paddings[:, 1]])
        fill_value = self.constant(np.array(fill, np.float32), "fill")
        self.values[node.name] = self.emit(
            "Pad", [self.tensor(node.inputs[0]), self.constant(pads, "pads"), fill_value]
        )[0]

    def op_Pad(self, node: TfjsNode) -> None:  # noqa: N802
        self._pad(node, 0.0)

    def op_PadV2(self, node: TfjsNode) -> None:  # noqa: N802
        self._pad(node, float(self.folded(node, 2)))

    def _spatial(self, node: TfjsNode, key: str) -> list[int]:
        if _text(node, "data_format", "NHWC") != "NHWC":
            raise ModelError(f"node {node.name!r}: only the NHWC data format is supported")
        values = _ints(node, key, [1, 1, 1, 1])
        if len(values) != 4 or values[0] != 1 or values[3] != 1:
            raise ModelError(f"node {node.name!r}: unsupported {key} {values}")
        return values[1:3]

    def _padding(self, node: TfjsNode) -> dict[str, Any]:
        padding = _text(node, "padding")
        if padding == "VALID":
            return {}
        if padding == "SAME":
            return {"auto_pad": "SAME_UPPER"}
        raise ModelError(f"node {node.name!r}: padding {padding!r} is not supported")

    def op_Conv2D(self, node: TfjsNode) -> None:  # noqa: N802
        kernel = self.folded(node, 1)
        if kernel.ndim != 4:
            raise ModelError(f"node {node.name!r}: the kernel must be (rows, columns, in, out)")
        strides, dilations = self._spatial(node, "strides"), self._spatial(node, "dilations")
        x = self.transpose(self.tensor(node.inputs[0]), _TO_NCHW)
        weights = self.constant(kernel.transpose(3, 2, 0, 1).astype(np.float32), "kernel")
        name = self.fresh("conv")
        conv = helper.make_node(
            "Conv",
            [x, weights],
            [name],
            name=self.origin(),
            strides=strides,
            dilations=dilations,
            kernel_shape=list(kernel.shape[:2]),
            **self._padding(node),
        )
        self.nodes.append(conv)
        out = self.transpose(name, _TO_NHWC)
        self.conv_output[out] = (conv, node.name, kernel.shape[3])
        self.values[node.name] = out

    def op_MaxPool(self, node: TfjsNode) -> None:  # noqa: N802
        size, strides = self._spatial(node, "ksize"), self._spatial(node, "strides")
        x = self.transpose(self.tensor(node.inputs[0]), _TO_NCHW)
        pooled = self.emit(
            "MaxPool", [x], kernel_shape=size, strides=strides, **self._padding(node)
        )[0]
        self.values[node.name] = self.transpose(pooled, _TO_NHWC)

    def op_Add(self, node: TfjsNode) -> None:  # noqa: N802
        a, b = self.value(node.inputs[0]), self.value(node.inputs[1])
        if not isinstance(a, str) and not isinstance(b, str):
            self.values[node.name] = np.add(a, b)
            return
        if isinstance(b, str) and not isinstance(a, str):
            a, b = b, a
        conv = self.conv_output.pop(a, None) if isinstance(a, str) else None
        if conv is not None and not isinstance(b, str):
            onnx_conv, source, channels = conv
            if b.shape == (channels,) and self.readers[source] == 1:
                # A per-channel constant added to a convolution's only use: its bias.
                onnx_conv.input.append(self.constant(b.astype(np.float32), "bias"))
                self.values[node.name] = a
                return
        self.values[node.name] = self.emit(
            "Add", [self.tensor(node.inputs[0]), self.tensor(node.inputs[1])]
        )[0]

    op_AddV2 = op_Add  # noqa: N815

    def op_LeakyRelu(self, node: TfjsNode) -> None:  # noqa: N802
        alpha = float(node.attr.get("alpha", {}).get("f", 0.2))
        self.values[node.name] = self.emit("LeakyRelu", [self.tensor(node.inputs[0])], alpha=alpha)[
            0
        ]

    def op_Sigmoid(self, node: TfjsNode) -> None:  # noqa: N802
        self.values[node.name] = self.emit("Sigmoid", [self.tensor(node.inputs[0])])[0]

    def op_ConcatV2(self, node: TfjsNode) -> None:  # noqa: N802
        axis = int(self.folded(node, len(node.inputs) - 1))
        parts = [self.tensor(i) for i in node.inputs[:-1]]
        self.values[node.name] = self.emit("Concat", parts, axis=axis)[0]

    def op_SplitV(self, node: TfjsNode) -> None:  # noqa: N802
        sizes = self.folded(node, 1).astype(np.int64)
        axis = int(self.folded(node, 2))
        if (sizes < 0).any():
            raise ModelError(f"node {node.name!r}: split sizes must be given, got {sizes.tolist()}")
        outs = self.emit(
            "Split",
            [self.tensor(node.inputs[0]), self.constant(sizes, "split")],
            len(sizes),
            axis=axis,
        )
        for index, out in enumerate(outs):
            self.values[node.name if index == 0 else f"{node.name}:{index}"] = out

    def op_Reshape(self, node: TfjsNode) -> None:  # noqa: N802
        shape = self.folded(node, 1).astype(np.int64)
        self.values[node.name] = self.emit(
            "Reshape", [self.tensor(node.inputs[0]), self.constant(shape, "shape")]
        )[0]

    def op_SparseToDense(self, node: TfjsNode) -> None:  # noqa: N802
        indices, size, updates, default = (self.folded(node, i) for i in range(4))
        shape = tuple(int(s) for s in np.atleast_1d(size))
        dense = np.full(shape, default, dtype=updates.dtype)
        points = np.asarray(indices, dtype=np.int64).reshape(-1, len(shape))
        values = np.broadcast_to(updates, (len(points),))
        if ((points < 0) | (points >= shape)).any():
            raise ModelError(f"node {node.name!r}: an index lies outside {shape}")
        for point, update in zip(points, values, strict=True):
            dense[tuple(point)] = update
        self.values[node.name] = dense

    def op_ResizeBilinear(self, node: TfjsNode) -> None:  # noqa: N802
        size = self.folded(node, 1).astype(np.int64)
        if _flag(node, "align_corners"):
            mode = "align_corners"
        elif _flag(node, "half_pixel_centers"):
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        x = self.transpose(self.tensor(node.inputs[0]), _TO_NCHW)
        # Sizes for now; turned into ratios once the shapes are known (_free_input_size).
        sizes = self.constant(np.array([0, 0, *size], np.int64), "resize_to")
        resized = self.emit(
            "Resize",
            [x, "", "", sizes],
            mode="linear",
            coordinate_transformation_mode=mode,
        )[0]
        self.values[node.name] = self.transpose(resized, _TO_NHWC)


def build_onnx_from_tfjs(graph: TfjsGraph, output_names: dict[str, str]) -> onnx.ModelProto:
    """The ONNX model computing ``graph``'s outputs, renamed by ``output_names``.

    Args:
        graph: a graph read by :func:`facewarden.convert.tfjs_graph.read_graph`.
        output_names: TensorFlow output node -> ONNX output name; every output
            of the graph must be named.

    Raises:
        ModelError: an op or attribute not supported, or outputs not named.
    """
    if set(output_names) != set(graph.outputs):
        raise ModelError(
            f"outputs {sorted(graph.outputs)} expected, names given for {sorted(output_names)}"
        )
    builder = _Builder(graph)
    order = graph.needed_in_order()
    placeholders = [n for n in order if n.op == "Placeholder"]
    if len(placeholders) != 1:
        raise ModelError(f"expected one input, found {len(placeholders)}")
    for node in order:
        builder.visit(node)
    for tf_name, onnx_name in output_names.items():
        out = builder.tensor(tf_name)
        builder.nodes.append(helper.make_node("Identity", [out], [onnx_name]))
    n, channels, rows, columns = builder.input_shape
    static = _model(builder, dict.fromkeys(output_names.values()), [n, channels, rows, columns])
    return _free_input_size(static, builder, list(output_names.values()))


def _model(
    builder: _Builder, outputs: dict[str, list[int | str] | None], input_dims: list[int | str]
) -> onnx.ModelProto:
    graph = helper.make_graph(
        builder.nodes,
        "tfjs_graph",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, input_dims)],
        [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)
            for name, dims in outputs.items()
        ],
        builder.initializers,
    )
    proto = helper.make_model(
        graph, producer_name="facewarden", opset_imports=[helper.make_opsetid("", _OPSET)]
    )
    proto.ir_version = _IR_VERSION
    return proto


def _free_input_size(
    static: onnx.ModelProto, builder: _Builder, outputs: list[str]
) -> onnx.ModelProto:
    """The model with free input rows and columns: resizes by ratio instead of to a size."""
    try:
        inferred = shape_inference.infer_shapes(static, strict_mode=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as exc:
        raise ModelError(f"the converted graph does not fit together: {exc}") from exc
    shapes = {
        info.name: [d.dim_value for d in info.type.tensor_type.shape.dim]
        for info in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    }
    by_name = {i.name: i for i in builder.initializers}
    for node in builder.nodes:
        if node.op_type != "Resize":
            continue
        source = shapes.get(node.input[0])
        target = numpy_helper.to_array(by_name[node.input[3]])
        if not source or len(source) != 4 or min(source[2:]) <= 0:
            raise ModelError(f"cannot infer the shape resized by {node.output[0]}")
        ratios = [target[2] / source[2], target[3] / source[3]]
        for ratio, before in zip(ratios, source[2:], strict=True):
            if (
                not (ratio * before).is_integer()
                or (ratio >= 1 and not ratio.is_integer())
                or (ratio < 1 and not (1 / ratio).is_integer())
            ):
                raise ModelError(f"resize {source} -> {target.tolist()} is not by a whole ratio")
        scales = builder.constant(np.array([1.0, 1.0, *ratios], np.float32), "scales")
        node.input[2] = scales
        del node.input[3]
    _prune(builder, outputs)
    n, channels = builder.input_shape[:2]
    # The outputs' sizes follow the input's; only their ranks are declared.
    ranks = {name: len(shapes.get(name, [])) for name in outputs}
    dims: dict[str, list[int | str] | None] = {
        name: [f"{name}_{axis}" for axis in range(rank)] for name, rank in ranks.items()
    }
    model = _model(builder, dims, [n, channels, "rows", "columns"])
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"the converted graph is not valid ONNX: {exc}") from exc
    return model


def _prune(builder: _Builder, outputs: list[str]) -> None:
    """Drops the nodes and initializers no output needs (transposes composed away)."""
    needed = set(outputs)
    kept: list[onnx.NodeProto] = []
    for node in reversed(builder.nodes):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    builder.nodes[:] = kept[::-1]
    builder.initializers[:] = [i for i in builder.initializers if i.name in needed]
