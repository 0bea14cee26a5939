"""Face embedders behind one small protocol.

An embedder turns a batch of aligned chips into L2-normalised vectors, and
declares the chip it expects so alignment can produce it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from facewarden import models
from facewarden.errors import ConfigError
from facewarden.vision.onnx_embed import OnnxResnetEmbedder

__all__ = ["EMBEDDERS", "DlibResnetEmbedder", "Embedder", "l2_normalise", "make_embedder"]

RGBImage = npt.NDArray[np.uint8]
Embeddings = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Maps aligned face chips to L2-normalised embeddings."""

    @property
    def name(self) -> str:
        """Identifies the model (thresholds are calibrated per name)."""
        ...

    @property
    def embedding_dim(self) -> int:
        """Length of the vectors."""
        ...

    @property
    def chip_size(self) -> int:
        """Side in pixels of the aligned chip the model expects."""
        ...

    @property
    def chip_padding(self) -> float:
        """Margin around the 5-point template in the chip, as a fraction of the face."""
        ...

    def embed(self, chips: list[RGBImage]) -> Embeddings:
        """``(n, embedding_dim)`` float32 unit vectors for ``n`` chips."""
        ...


def l2_normalise(vectors: npt.ArrayLike) -> Embeddings:
    """Rows scaled to unit length (a zero row stays zero)."""
    array = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    normalised: Embeddings = np.divide(array, norms, out=np.zeros_like(array), where=norms > 0)
    return normalised


@dataclass(frozen=True)
class DlibResnetEmbedder:
    """dlib's ResNet-29 metric network (``dlib_face_recognition_resnet_model_v1``), 128-d.

    Published at 99.38% on LFW. dlib's raw descriptors are compared with a
    Euclidean distance of 0.6; facewarden L2-normalises them and compares by
    cosine similarity, with operating points calibrated for that
    (:mod:`facewarden.match.thresholds`).
    """

    name: str = "dlib-resnet"
    embedding_dim: int = 128
    chip_size: int = 150
    chip_padding: float = 0.25

    def embed(self, chips: list[RGBImage]) -> Embeddings:
        if not chips:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        for chip in chips:
            if chip.shape != (self.chip_size, self.chip_size, 3) or chip.dtype != np.uint8:
                raise ValueError(
                    f"chips must be ({self.chip_size}, {self.chip_size}, 3) uint8, "
                    f"got {chip.shape} {chip.dtype}"
                )
        network = models.load("resnet_embedder")
        descriptors = network.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        return l2_normalise(np.array([np.asarray(d) for d in descriptors], dtype=np.float32))


EMBEDDERS: dict[str, Embedder] = {
    "dlib-resnet": DlibResnetEmbedder(),
    "onnx-resnet": OnnxResnetEmbedder(),
}


def make_embedder(name: str) -> Embedder:
    """The embedder called ``name``.

    Raises:
        ConfigError: no such embedder; the message lists the choices.
    """
    try:
        return EMBEDDERS[name]
    except KeyError:
        choices = ", ".join(sorted(EMBEDDERS))
        raise ConfigError(f"unknown embedder {name!r}; choose one of: {choices}") from None
