"""Vector indexes: nearest templates by cosine similarity, knowing only vectors and ids.

A :class:`VectorIndex` holds unit vectors under unique *keys* (one per stored
template, e.g. a face id), each belonging to a *group* (e.g. the subject the
face is of). A search returns the best ``k`` distinct groups, each with its
most similar key, so a subject enrolled with five photos counts once in a
top-k list. The index knows nothing of people: keys and groups are opaque
strings.

:class:`ExactIndex` compares a probe with every stored vector (one matrix
product in numpy): exact, and fast enough for galleries up to a few hundred
thousand templates on one core. An approximate index for larger galleries can
come later behind the same protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["ExactIndex", "Hit", "VectorIndex", "as_matrix", "checked_batch"]

Float32Array = npt.NDArray[np.float32]
_MIN_CAPACITY = 64


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: a group, its most similar key, and their cosine similarity."""

    group: str
    key: str
    similarity: float


@runtime_checkable
class VectorIndex(Protocol):
    """Nearest-neighbour search over unit vectors grouped under opaque ids."""

    @property
    def dim(self) -> int:
        """The vector dimension."""
        ...

    def __len__(self) -> int:
        """How many vectors are stored."""
        ...

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is stored."""
        ...

    def add(self, keys: Sequence[str], groups: Sequence[str], vectors: npt.ArrayLike) -> None:
        """Store ``vectors`` (``(n, dim)`` unit rows) under new unique ``keys``."""
        ...

    def remove(self, keys: Iterable[str]) -> int:
        """Drop the given keys (unknown ones are ignored); returns how many were dropped."""
        ...

    def remove_groups(self, groups: Iterable[str]) -> int:
        """Drop every key of the given groups; returns how many vectors were dropped."""
        ...

    def search(self, queries: npt.ArrayLike, k: int) -> list[list[Hit]]:
        """For each query row, the ``k`` most similar distinct groups, best first."""
        ...


def as_matrix(vectors: npt.ArrayLike, dim: int, what: str = "vectors") -> npt.NDArray[np.float32]:
    """``vectors`` as a float32 ``(n, dim)`` matrix (one vector becomes one row).

    Raises:
        ValueError: any other shape.
    """
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[np.newaxis, :]
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(f"{what} must have shape (n, {dim}), got {matrix.shape}")
    return matrix


def checked_batch(
    keys: Sequence[str], groups: Sequence[str], vectors: npt.ArrayLike, dim: int
) -> npt.NDArray[np.float32]:
    """The matrix of a batch handed to ``VectorIndex.add``, checked the same for every index.

    Raises:
        ValueError: the shape is not ``(n, dim)``, the lengths differ, or a
            vector is not finite.
    """
    matrix = as_matrix(vectors, dim)
    if not len(keys) == len(groups) == matrix.shape[0]:
        raise ValueError(
            f"{len(keys)} keys, {len(groups)} groups and {matrix.shape[0]} vectors differ"
        )
    if not np.all(np.isfinite(matrix)):
        raise ValueError("vectors hold NaN or infinite values")
    return matrix


class ExactIndex:
    """Brute-force exact search with numpy; vectors kept in one growable matrix.

    Not thread-safe: callers that share one across threads serialise access.

    Args:
        dim: the vector dimension.
    """

    def __init__(self, dim: int) -> None:
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self._dim = dim
        self._matrix: Float32Array = np.zeros((_MIN_CAPACITY, dim), dtype=np.float32)
        self._keys: list[str] = []
        self._groups: list[str] = []
        self._row_of: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"ExactIndex(dim={self._dim}, size={len(self)})"

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._row_of

    def keys_of(self, group: str) -> list[str]:
        """The keys stored for ``group`` (a linear scan; for tests and checks)."""
        return [k for k, g in zip(self._keys, self._groups, strict=True) if g == group]

    def add(self, keys: Sequence[str], groups: Sequence[str], vectors: npt.ArrayLike) -> None:
        """Store vectors under new keys.

        Raises:
            ValueError: lengths differ, a key is already stored or repeated, the
                shape is not ``(n, dim)``, or a vector is not finite.
        """
        matrix = checked_batch(keys, groups, vectors, self._dim)
        duplicated = [k for k in keys if k in self._row_of]
        if duplicated or len(set(keys)) != len(keys):
            raise ValueError(f"keys already stored or repeated: {sorted(set(duplicated))[:5]}")
        start = len(self._keys)
        self._reserve(start + matrix.shape[0])
        self._matrix[start : start + matrix.shape[0]] = matrix
        for offset, (key, group) in enumerate(zip(keys, groups, strict=True)):
            self._row_of[key] = start + offset
            self._keys.append(key)
            self._groups.append(group)

    def remove(self, keys: Iterable[str]) -> int:
        removed = 0
        for key in keys:
            row = self._row_of.pop(key, None)
            if row is None:
                continue
            # Move the last row into the hole: O(1) per removal, order is not kept.
            last = len(self._keys) - 1
            if row != last:
                moved = self._keys[last]
                self._matrix[row] = self._matrix[last]
                self._keys[row] = moved
                self._groups[row] = self._groups[last]
                self._row_of[moved] = row
            self._keys.pop()
            self._groups.pop()
            removed += 1
        return removed

    def remove_groups(self, groups: Iterable[str]) -> int:
        wanted = set(groups)
        return self.remove(
            [k for k, g in zip(self._keys, self._groups, strict=True) if g in wanted]
        )

    def transform(self, matrix: npt.ArrayLike) -> None:
        """Apply a ``(dim, dim)`` linear map to every stored vector (template renewal)."""
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape != (self._dim, self._dim):
            raise ValueError(f"need a ({self._dim}, {self._dim}) matrix, got {m.shape}")
        n = len(self._keys)
        if n:
            renewed = self._matrix[:n].astype(np.float64) @ m.T
            self._matrix[:n] = renewed.astype(np.float32)

    def search(self, queries: npt.ArrayLike, k: int) -> list[list[Hit]]:
        """The ``k`` most similar distinct groups for each query row, best first.

        Args:
            queries: ``(dim,)`` or ``(n, dim)`` unit vectors.
            k: how many groups to return per query (fewer if fewer are stored).

        Raises:
            ValueError: ``k`` is not positive or the queries have the wrong shape.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        probes = np.asarray(queries, dtype=np.float32)
        if probes.ndim == 1:
            probes = probes[np.newaxis, :]
        if probes.ndim != 2 or probes.shape[1] != self._dim:
            raise ValueError(f"queries must have shape (n, {self._dim}), got {probes.shape}")
        n = len(self._keys)
        if n == 0:
            return [[] for _ in range(probes.shape[0])]
        scores = probes @ self._matrix[:n].T
        return [self._best_groups(row, k) for row in scores]

    def _best_groups(self, scores: Float32Array, k: int) -> list[Hit]:
        n = scores.shape[0]
        # Look at the top `window` rows; a group with several vectors can take
        # several of them, so widen the window until k distinct groups are seen
        # or every row was looked at. The result is exact either way.
        window = min(n, 4 * k)
        while True:
            top = np.argpartition(-scores, window - 1)[:window] if window < n else np.arange(n)
            top = top[np.argsort(-scores[top], kind="stable")]
            hits: list[Hit] = []
            seen: set[str] = set()
            for row in top:
                group = self._groups[row]
                if group in seen:
                    continue
                seen.add(group)
                hits.append(Hit(group, self._keys[row], float(scores[row])))
                if len(hits) == k:
                    return hits
            if window >= n:
                return hits
            window = min(n, window * 4)

    def _reserve(self, size: int) -> None:
        capacity = self._matrix.shape[0]
        if size <= capacity:
            return
        while capacity < size:
            capacity *= 2
        grown = np.zeros((capacity, self._dim), dtype=np.float32)
        grown[: len(self._keys)] = self._matrix[: len(self._keys)]
        self._matrix = grown
