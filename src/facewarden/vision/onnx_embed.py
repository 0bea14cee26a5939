"""Embedders on ONNX Runtime: dlib's ResNet converted to ONNX, and ArcFace-style models you bring.

* :class:`OnnxResnetEmbedder` runs dlib's own ResNet, converted from the
  installed weights (:mod:`facewarden.convert`), batched: the same embeddings
  as :class:`~facewarden.vision.embed.DlibResnetEmbedder` (within 1e-4 cosine
  distance; measured about 1e-7) several times faster. It declares
  ``equivalent_to = "dlib-resnet"``, so it reuses dlib's calibrated thresholds.
* :class:`OnnxArcFaceEmbedder` runs an ArcFace-style ``.onnx`` file you give
  (112x112 crops aligned to the ArcFace template, 512-d by default), with the
  preprocessing you declare: nothing is guessed from the graph, which is only
  checked against what you declared. It aligns its own crops
  (:meth:`OnnxArcFaceEmbedder.align`), since it was not trained on dlib chips.

Both are small picklable configuration objects; the onnxruntime session is
built on first use, once per process (:mod:`facewarden.vision.onnx_session`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from facewarden.errors import ConfigError, ModelError
from facewarden.vision.align_template import (
    ARCFACE_112_FROM_DLIB,
    align_similarity,
    arcface_points_from_dlib,
)
from facewarden.vision.onnx_session import run, session

__all__ = ["OnnxArcFaceEmbedder", "OnnxResnetEmbedder"]

RGBImage = npt.NDArray[np.uint8]
Embeddings = npt.NDArray[np.float32]


def _stack(chips: list[RGBImage], size: int) -> npt.NDArray[np.uint8]:
    for chip in chips:
        if chip.shape != (size, size, 3) or chip.dtype != np.uint8:
            raise ValueError(
                f"chips must be ({size}, {size}, 3) uint8, got {chip.shape} {chip.dtype}"
            )
    return np.stack(chips)


def _unit_rows(vectors: npt.NDArray[np.float32]) -> Embeddings:
    from facewarden.vision.embed import l2_normalise  # embed.py imports this module

    return l2_normalise(vectors)


def _run_batches(
    runtime: Any, inputs: npt.NDArray[Any], batch_size: int, width: int, what: str
) -> npt.NDArray[np.float32]:
    input_name = runtime.get_inputs()[0].name
    parts = []
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size]
        (output, *_) = run(runtime, {input_name: batch}, what=what)
        output = np.asarray(output, dtype=np.float32).reshape(len(batch), -1)
        if output.shape[1] != width:
            raise ModelError(f"{what} gave {output.shape[1]}-d outputs, {width} were declared")
        parts.append(output)
    return np.concatenate(parts)


def _check_settings(threads: int, batch_size: int) -> None:
    if threads < 0:
        raise ConfigError(f"threads must be 0 (all cores) or more, got {threads}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")


@dataclass(frozen=True)
class OnnxResnetEmbedder:
    """dlib's ResNet-29 embedder (128-d) converted to ONNX and run by onnxruntime.

    Attributes:
        threads: onnxruntime intra-op threads per process (0: all cores).
        device: ``cpu``, or ``cuda`` to use onnxruntime's CUDA provider when it
            is installed (the CPU otherwise, with a warning).
        batch_size: chips per onnxruntime call.
    """

    name: str = "onnx-resnet"
    embedding_dim: int = 128
    chip_size: int = 150
    chip_padding: float = 0.25
    equivalent_to: str = "dlib-resnet"
    threads: int = 1
    device: str = "cpu"
    batch_size: int = 32

    def __post_init__(self) -> None:
        _check_settings(self.threads, self.batch_size)

    def embed(self, chips: list[RGBImage]) -> Embeddings:
        """``(n, 128)`` float32 unit vectors for ``n`` dlib chips (150x150 RGB)."""
        if not chips:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        batch = _stack(chips, self.chip_size)
        descriptors = _run_batches(
            self._session(), batch, self.batch_size, self.embedding_dim, "the converted ResNet"
        )
        return _unit_rows(descriptors)

    def _session(self) -> Any:
        from facewarden.convert.cache import converted_model

        return session(
            "resnet_embedder",
            lambda: converted_model("resnet_embedder"),
            threads=self.threads,
            device=self.device,
        )


@dataclass(frozen=True)
class OnnxArcFaceEmbedder:
    """An ArcFace-style ONNX model from a path you give, with the preprocessing you declare.

    The model takes a batch of ``input_size`` square crops aligned to the
    ArcFace template (:meth:`align`) as float32, each channel computed as
    ``(pixel - mean[c]) / std[c]`` over the channels in ``channel_order``,
    laid out as ``layout``. Its first output holds the embeddings.

    Attributes:
        path: the ``.onnx`` file.
        mean: per-channel value subtracted, in ``channel_order`` (insightface: 127.5 each).
        std: per-channel divisor, in ``channel_order`` (insightface: 127.5 each).
        channel_order: ``RGB`` or ``BGR``, the channel order the model expects.
        name: the model name thresholds are calibrated under.
        embedding_dim: length of the model's output vectors.
        input_size: side of the square crop.
        layout: ``NCHW`` or ``NHWC``, the model's input layout.
    """

    path: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channel_order: Literal["RGB", "BGR"]
    name: str = "onnx-arcface"
    embedding_dim: int = 512
    input_size: int = 112
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    threads: int = 1
    device: str = "cpu"
    batch_size: int = 32

    def __post_init__(self) -> None:
        _check_settings(self.threads, self.batch_size)
        if self.channel_order not in ("RGB", "BGR") or self.layout not in ("NCHW", "NHWC"):
            raise ConfigError(
                f"channel_order must be RGB or BGR and layout NCHW or NHWC, "
                f"got {self.channel_order!r} and {self.layout!r}"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or min(abs(s) for s in self.std) == 0:
            raise ConfigError(f"mean and std need 3 values, std non-zero: {self.mean}, {self.std}")

    @property
    def chip_size(self) -> int:
        """Side of the crop :meth:`align` produces."""
        return self.input_size

    @property
    def chip_padding(self) -> float:
        """No margin is added: the ArcFace template already frames the face."""
        return 0.0

    def align(self, image: RGBImage, landmarks: npt.ArrayLike) -> RGBImage:
        """The ArcFace crop of the face with these dlib 5-point ``landmarks``.

        See :mod:`facewarden.vision.align_template` for how dlib's points are
        mapped to the ArcFace template, and the limits of that mapping.
        """
        template = ARCFACE_112_FROM_DLIB * (self.input_size / 112.0)
        return align_similarity(
            image, arcface_points_from_dlib(landmarks), template, self.input_size
        )

    def preprocess(self, chips: list[RGBImage]) -> npt.NDArray[np.float32]:
        """The model's input for ``chips`` (RGB crops), as declared."""
        batch = _stack(chips, self.input_size).astype(np.float32)
        if self.channel_order == "BGR":
            batch = batch[..., ::-1]
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        batch = (batch - mean) / std
        if self.layout == "NCHW":
            batch = batch.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(batch, dtype=np.float32)

    def embed(self, chips: list[RGBImage]) -> Embeddings:
        """``(n, embedding_dim)`` float32 unit vectors for ``n`` crops from :meth:`align`."""
        if not chips:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        outputs = _run_batches(
            self._session(), self.preprocess(chips), self.batch_size, self.embedding_dim, self.path
        )
        return _unit_rows(outputs)

    def _session(self) -> Any:
        path = Path(self.path)
        if not path.is_file():
            raise ModelError(f"the ArcFace model {path} does not exist")
        runtime = session(
            str(path.resolve()), lambda: str(path), threads=self.threads, device=self.device
        )
        self._check_input(runtime)
        return runtime

    def _check_input(self, runtime: Any) -> None:
        shape = list(runtime.get_inputs()[0].shape)
        size, channels = self.input_size, 3
        expected = (
            [None, channels, size, size] if self.layout == "NCHW" else [None, size, size, channels]
        )
        fixed = [
            (got, want) for got, want in zip(shape, expected, strict=False) if isinstance(got, int)
        ]
        if len(shape) != 4 or any(want is not None and got != want for got, want in fixed):
            raise ModelError(
                f"{self.path} takes input of shape {shape}; declared {self.layout} "
                f"crops of {size}x{size}x{channels}"
            )
