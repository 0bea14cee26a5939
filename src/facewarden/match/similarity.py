"""Verification math: cosine similarity of L2-normalised embeddings."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["cosine_similarity", "similarity_matrix"]


def cosine_similarity(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Cosine similarity of two vectors, in ``[-1, 1]`` (1: same direction)."""
    va = np.asarray(a, dtype=np.float64).ravel()
    vb = np.asarray(b, dtype=np.float64).ravel()
    if va.shape != vb.shape:
        raise ValueError(f"vectors differ in length: {va.shape[0]} and {vb.shape[0]}")
    denominator = float(np.linalg.norm(va) * np.linalg.norm(vb))
    if denominator == 0:
        raise ValueError("cosine similarity is undefined for a zero vector")
    return float(va @ vb) / denominator


def similarity_matrix(
    probes: npt.NDArray[np.float32], gallery: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """``(n_probes, n_gallery)`` cosine similarities of rows that are already unit length."""
    return np.asarray(np.atleast_2d(probes) @ np.atleast_2d(gallery).T, dtype=np.float32)
