"""A reader of dlib's serialized DNN files, written from dlib's public source.

The format is defined by dlib's C++ code: the primitives (integers, floats,
strings, tensors) by ``dlib/serialize.h`` and ``dlib/dnn/tensor.h``, read by
:mod:`facewarden.convert.dlib_serialize`; the networks by ``dlib/dnn/core.h``,
``layers.h``, ``input.h`` and ``loss.h``, read here.

A network is written from the loss layer inwards: each wrapper writes its
version and then its sub-network, and a computational layer writes its own
parameters only after the sub-network. So the file reads as the loss, the
versions of every wrapper from the outside in, the input layer, then the
layers' parameters from the input outwards. Tag and skip wrappers write only
their version (1) and nothing says which one, nor its tag number: those come
from the network's C++ type, which :mod:`facewarden.convert.to_onnx` supplies
and checks against the file. Computational layers have version 2; the one on
the input, 3.

Only the layers of dlib's face models are understood; they are read into the
types of :mod:`facewarden.convert.dlib_layers`. Anything else, a truncated
file or a value out of range raises :class:`ModelError` naming what was found
and the byte offset, so a wrong model can never be built silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facewarden.convert.dlib_layers import (
    AddPrev,
    Affine,
    Conv,
    DlibNetwork,
    FullyConnected,
    InputLayer,
    Layer,
    LossMetric,
    LossMmod,
    Marker,
    Pool,
    Relu,
)
from facewarden.convert.dlib_serialize import DlibReader
from facewarden.errors import ModelError

__all__ = ["parse_network", "read_network"]

FloatArray = npt.NDArray[np.float32]

_INPUT_NAMES = ("input_rgb_image_sized", "input_rgb_image_pyramid", "input_rgb_image_pyramid2")
# The first pyramid input format did not store its paddings; dlib reads it with these.
_OLD_PYRAMID_PADDING, _OLD_PYRAMID_OUTER_PADDING = 10, 11
_MAX_LAYERS = 10_000


def _size(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _loss(reader: DlibReader) -> LossMetric | LossMmod:
    reader.where = "the loss layer"
    name = reader.string("the loss layer name")
    if name == "loss_metric_2":
        return LossMetric(reader.real("margin"), reader.real("distance threshold"))
    if name == "loss_mmod_":
        start = reader.pos
        if reader.integer("mmod options version") != 1:
            raise reader.fail("only version 1 of the MMOD options is understood", start)
        width = reader.count("detector width", limit=1 << 16)
        height = reader.count("detector height", limit=1 << 16)
        for what in ("loss per false alarm", "loss per missed target", "truth match IoU"):
            reader.real(what)
        nms_iou, nms_covered = reader.real("NMS IoU"), reader.real("NMS coverage")
        reader.real("ignore IoU")
        reader.real("ignore coverage")
        return LossMmod(((width, height),), nms_iou, nms_covered)
    raise reader.fail(f"unsupported loss layer {name!r} (understood: loss_metric_2, loss_mmod_)")


def _input(reader: DlibReader) -> InputLayer:
    reader.where = "the input layer"
    name = reader.string("the input layer name")
    if name not in _INPUT_NAMES:
        raise reader.fail(f"unsupported input layer {name!r}")
    mean = (reader.real("mean red"), reader.real("mean green"), reader.real("mean blue"))
    if name == "input_rgb_image_sized":
        rows = reader.count("input rows", limit=1 << 16)
        columns = reader.count("input columns", limit=1 << 16)
        return InputLayer(name, mean, size=(rows, columns))
    padding, outer = _OLD_PYRAMID_PADDING, _OLD_PYRAMID_OUTER_PADDING
    if name == "input_rgb_image_pyramid2":
        padding = reader.count("pyramid padding", limit=1 << 16)
        outer = reader.count("pyramid outer padding", limit=1 << 16)
    return InputLayer(
        "input_rgb_image_pyramid", mean, pyramid_padding=padding, pyramid_outer_padding=outer
    )


def _conv(reader: DlibReader) -> Conv:
    params = reader.tensor("con_ parameters")
    filters = reader.count("number of filters")
    rows, columns = reader.count("filter rows"), reader.count("filter columns")
    stride = (reader.count("stride y", limit=64), reader.count("stride x", limit=64))
    padding = (reader.count("padding y", limit=64), reader.count("padding x", limit=64))
    weights_shape = reader.alias("filters")
    bias_shape = reader.alias("biases")
    for what in ("learning rate", "weight decay", "bias learning rate", "bias weight decay"):
        reader.real(what)
    reader.expect(
        weights_shape[0] == filters and weights_shape[2:] == (rows, columns),
        f"filters {weights_shape} disagree with {filters} filters of {rows}x{columns}",
    )
    reader.expect(_size(bias_shape) == filters, f"biases {bias_shape} for {filters} filters")
    reader.expect(min(stride) >= 1, f"stride {stride} must be positive")
    n_weights = _size(weights_shape)
    reader.expect(
        params.size == n_weights + filters, f"{params.size} parameters for {weights_shape}"
    )
    weights = params[:n_weights].reshape(weights_shape)
    return Conv(weights, params[n_weights:].copy(), stride, padding)


def _affine(reader: DlibReader) -> Affine:
    params = reader.tensor("affine_ parameters")
    gamma_shape, beta_shape = reader.alias("gamma"), reader.alias("beta")
    mode = reader.integer("affine mode")
    reader.expect(mode == 0, f"affine_ in mode {mode}; only convolution mode (0) is understood")
    channels = _size(gamma_shape)
    reader.expect(
        gamma_shape == beta_shape == (1, channels, 1, 1) and params.size == 2 * channels,
        f"gamma {gamma_shape} / beta {beta_shape} / {params.size} parameters disagree",
    )
    return Affine(params[:channels].copy(), params[channels:].copy())


def _batch_norm(reader: DlibReader) -> Affine:
    """``bn_con2`` folded into an affine layer, as dlib does when it loads one for inference."""
    params = reader.tensor("bn_ parameters")
    gamma_shape, beta_shape = reader.alias("gamma"), reader.alias("beta")
    for what in ("batch means", "batch inverse deviations"):
        reader.tensor(what)
    means, variances = reader.tensor("running means"), reader.tensor("running variances")
    reader.count("update count")
    reader.count("running statistics window")
    for what in ("learning rate", "weight decay", "bias learning rate", "bias weight decay"):
        reader.real(what)
    eps = reader.real("epsilon")
    channels = _size(gamma_shape)
    reader.expect(
        gamma_shape == beta_shape == (1, channels, 1, 1)
        and params.size == 2 * channels
        and means.size == variances.size == channels,
        f"bn_ gamma {gamma_shape} / {params.size} parameters / {means.size} means disagree",
    )
    # dlib's affine_(bn_) computes this in float32, in this order.
    scale = np.float32(1) / np.sqrt(variances + np.float32(eps))
    gamma = (params[:channels] * scale).astype(np.float32)
    beta = (params[channels:] - gamma * means).astype(np.float32)
    return Affine(gamma, beta)


def _pool(reader: DlibReader, kind: str) -> Pool:
    window = (reader.count("window rows", limit=1 << 16), reader.count("window columns"))
    stride = (reader.count("stride y", limit=64), reader.count("stride x", limit=64))
    padding = (reader.count("padding y", limit=64), reader.count("padding x", limit=64))
    reader.expect(min(stride) >= 1, f"stride {stride} must be positive")
    return Pool(kind, window, stride, padding)


def _fc(reader: DlibReader) -> FullyConnected:
    outputs, inputs = reader.count("fc outputs"), reader.count("fc inputs")
    params = reader.tensor("fc_ parameters")
    weights_shape, bias_shape = reader.alias("fc weights"), reader.alias("fc biases")
    bias_mode = reader.integer("fc bias mode")
    for what in ("learning rate", "weight decay", "bias learning rate", "bias weight decay"):
        reader.real(what)
    has_bias = bias_mode == 0
    reader.expect(bias_mode in (0, 1), f"unknown fc bias mode {bias_mode}")
    reader.expect(
        weights_shape == (inputs, outputs, 1, 1),
        f"fc weights {weights_shape} for {inputs} inputs and {outputs} outputs",
    )
    expected = inputs * outputs + (outputs if has_bias else 0)
    reader.expect(params.size == expected, f"{params.size} fc parameters, expected {expected}")
    if has_bias:
        reader.expect(_size(bias_shape) == outputs, f"fc biases {bias_shape}")
    weights = params[: inputs * outputs].reshape(inputs, outputs)
    bias = params[inputs * outputs :].copy() if has_bias else None
    return FullyConnected(weights, bias)


_LAYER_READERS: dict[str, Callable[[DlibReader], Layer]] = {
    "con_4": _conv,
    "affine_": _affine,
    "bn_con2": _batch_norm,
    "relu_": lambda _: Relu(),
    "add_prev_": lambda _: AddPrev(),
    "max_pool_2": lambda reader: _pool(reader, "max_pool"),
    "avg_pool_2": lambda reader: _pool(reader, "avg_pool"),
    "fc_2": _fc,
}


def _details(reader: DlibReader) -> Layer:
    name = reader.string("a layer name")
    reader.where = f"{reader.where} ({name})"
    read = _LAYER_READERS.get(name)
    if read is None:
        known = ", ".join(sorted(_LAYER_READERS))
        raise reader.fail(f"unsupported layer {name!r} (understood: {known})")
    return read(reader)


def _layer_state(reader: DlibReader, tensors: int) -> None:
    """Skips what dlib keeps for training: three flags and ``tensors`` buffers."""
    for what in ("setup flag", "stale-gradient flag", "in-place flag"):
        reader.boolean(what)
    for index in range(tensors):
        reader.tensor(f"training buffer {index + 1}")


def parse_network(data: bytes, *, source: str = "<bytes>") -> DlibNetwork:
    """The network serialized in ``data`` (the bytes of a dlib ``.dat`` file).

    Raises:
        ModelError: the bytes are not a network built of the layers understood
            here, are truncated, or hold inconsistent shapes or values.
    """
    reader = DlibReader(data, source)
    start = reader.pos
    if reader.integer("the loss wrapper version") != 1:
        raise reader.fail("the file does not start with a dlib loss layer", start)
    loss = _loss(reader)
    wrappers: list[int] = []
    while True:
        reader.where = f"wrapper {len(wrappers) + 1} from the output"
        start = reader.pos
        version = reader.integer("a layer version")
        if version == 3 or (version == 2 and reader.peek_string() in _INPUT_NAMES):
            break
        if version not in (1, 2) or len(wrappers) >= _MAX_LAYERS:
            raise reader.fail(f"unexpected layer version {version}", start)
        wrappers.append(version)
    input_layer = _input(reader)
    reader.where = "layer 1 from the input"
    layers: list[Layer] = [_details(reader)]
    _layer_state(reader, tensors=3)
    if version == 3:
        reader.count("sample expansion factor")
    for index, wrapper in enumerate(reversed(wrappers)):
        reader.where = f"layer {index + 2} from the input"
        if wrapper == 1:
            layers.append(Marker())
            continue
        layers.append(_details(reader))
        _layer_state(reader, tensors=3)
    if reader.pos != len(reader.data):
        reader.where = "the end of the network"
        raise reader.fail(f"{len(reader.data) - reader.pos} bytes follow the network")
    digest = hashlib.sha256(data).hexdigest()
    return DlibNetwork(loss, input_layer, tuple(layers), sha256=digest)


def read_network(path: str | Path) -> DlibNetwork:
    """The network in the dlib ``.dat`` file at ``path``.

    Raises:
        ModelError: the file is missing, unreadable, or not understood.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the dlib model {path}: {exc.strerror}") from exc
    return parse_network(data, source=path.name)
