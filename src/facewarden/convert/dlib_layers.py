"""A dlib DNN as :mod:`facewarden.convert.dlib_format` reads it: its loss, input and layers.

Plain frozen dataclasses, one per layer kind of dlib's face models, with the
parameters in dlib's own layouts and conventions (named on each field);
:mod:`facewarden.convert.to_onnx` rebuilds a :class:`DlibNetwork` as an ONNX
graph and :mod:`facewarden.convert.architectures` checks its layer kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "AddPrev",
    "Affine",
    "Conv",
    "DlibNetwork",
    "FullyConnected",
    "InputLayer",
    "Layer",
    "LossMetric",
    "LossMmod",
    "Marker",
    "Pool",
    "Relu",
]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class InputLayer:
    """The input layer: RGB pixels, minus the mean colour, divided by 256.

    Attributes:
        kind: dlib's name, ``input_rgb_image_sized`` or ``input_rgb_image_pyramid``.
        mean_rgb: the average colour subtracted from every pixel.
        size: ``(rows, columns)`` the sized input requires, else None.
        pyramid_padding: pixels between pyramid levels (pyramid input only).
        pyramid_outer_padding: pixels around the tiled pyramid (pyramid input only).
    """

    kind: str
    mean_rgb: tuple[float, float, float]
    size: tuple[int, int] | None = None
    pyramid_padding: int | None = None
    pyramid_outer_padding: int | None = None


@dataclass(frozen=True, eq=False)
class Conv:
    """``con_``: a 2-D convolution (cross-correlation) with bias."""

    weights: FloatArray  # (filters, channels, rows, columns)
    bias: FloatArray  # (filters,)
    stride: tuple[int, int]  # (y, x)
    padding: tuple[int, int]  # (y, x)
    kind: str = "con"


@dataclass(frozen=True, eq=False)
class Affine:
    """``affine_`` in convolution mode: ``x * gamma[k] + beta[k]`` per channel."""

    gamma: FloatArray
    beta: FloatArray
    kind: str = "affine"


@dataclass(frozen=True)
class Relu:
    """``relu_``."""

    kind: str = "relu"


@dataclass(frozen=True)
class AddPrev:
    """``add_prev_``: adds a tagged earlier output (the tag comes from the C++ type)."""

    kind: str = "add_prev"


@dataclass(frozen=True)
class Pool:
    """``max_pool_`` or ``avg_pool_``; a window of 0 covers the whole input."""

    kind: str  # "max_pool" or "avg_pool"
    window: tuple[int, int]  # (rows, columns)
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True, eq=False)
class FullyConnected:
    """``fc_``: ``output = input @ weights (+ bias)``."""

    weights: FloatArray  # (inputs, outputs)
    bias: FloatArray | None
    kind: str = "fc"


@dataclass(frozen=True)
class Marker:
    """A tag or skip wrapper: the file records neither which nor its number."""

    kind: str = "marker"


@dataclass(frozen=True)
class LossMetric:
    """``loss_metric_``: the network's output is the embedding itself."""

    margin: float
    distance_threshold: float
    kind: str = "loss_metric"


@dataclass(frozen=True)
class LossMmod:
    """``loss_mmod_`` (options version 1): one sliding detector window.

    Attributes:
        windows: ``(width, height)`` of each detector window, one per output channel.
        nms_iou: boxes overlapping a kept box by more than this IoU are suppressed...
        nms_covered: ...or covered by more than this fraction of either box.
    """

    windows: tuple[tuple[int, int], ...]
    nms_iou: float
    nms_covered: float
    kind: str = "loss_mmod"


Layer = Conv | Affine | Relu | AddPrev | Pool | FullyConnected | Marker


@dataclass(frozen=True, eq=False)
class DlibNetwork:
    """A parsed network: loss, input layer, and the layers from input to output."""

    loss: LossMetric | LossMmod
    input: InputLayer
    layers: tuple[Layer, ...]
    sha256: str = field(default="")

    @property
    def kinds(self) -> tuple[str, ...]:
        """The layer kinds from input to output, e.g. ``("con", "affine", "relu", ...)``."""
        return tuple(layer.kind for layer in self.layers)
