"""Synthetic galleries shaped like real face embeddings, fitted to the LFW fold.

Real dlib embeddings are not random unit vectors: they sit in a narrow cone
(two different people have a cosine similarity of about 0.84, two photos of
one person about 0.95 on the LFW fold). Searching them is easier and harder
than searching random vectors in different ways, so the index is tuned and
measured on vectors drawn to match: identity centres from a Gaussian with
the mean and between-person covariance of the real embeddings, photos of an
identity from the within-person covariance around its centre, normalised.

The real embeddings are computed once by the accurate pipeline from
``../shared/data/lfw-fold1`` and cached (``--cache``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw-fold1" / "lfw"


def lfw_embeddings(cache: Path) -> tuple[npt.NDArray[np.str_], F32]:
    """(person names, unit embeddings) of every LFW fold photo with a face."""
    if cache.exists():
        data = np.load(cache)
        return data["names"], data["vectors"]
    from facewarden.vision.pipeline import Pipeline, central_face

    pipeline = Pipeline.from_mode("accurate")
    names, vectors = [], []
    started = time.perf_counter()
    for path in sorted(LFW.rglob("*.jpg")):
        image = pipeline.decode(str(path))
        face = central_face(pipeline.run(image), image.shape)
        if face is not None and face.embedding is not None:
            names.append(path.parent.name)
            vectors.append(face.embedding)
    print(f"embedded {len(names)} LFW photos in {time.perf_counter() - started:.0f} s")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, names=np.array(names), vectors=np.array(vectors, dtype=np.float32))
    return np.array(names), np.array(vectors, dtype=np.float32)


@dataclass(frozen=True)
class FaceModel:
    """Mean and square roots of the between- and within-person covariances."""

    mean: npt.NDArray[np.float64]
    between: npt.NDArray[np.float64]
    within: npt.NDArray[np.float64]

    @classmethod
    def fit(cls, names: npt.NDArray[np.str_], vectors: F32) -> FaceModel:
        x = vectors.astype(np.float64)
        people, owner = np.unique(names, return_inverse=True)
        centres = np.stack([x[owner == i].mean(axis=0) for i in range(len(people))])
        residual = x - centres[owner]
        several = np.bincount(owner)[owner] > 1
        # Dividing by n - 1 per person: the spread of a photo around its person.
        dof = max(1, int(several.sum()) - len(np.unique(owner[several])))
        within = residual[several].T @ residual[several] / dof
        between = np.cov(centres.T)
        return cls(centres.mean(axis=0), _sqrt(between), _sqrt(within))

    def identities(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        """``n`` new identity centres (unnormalised)."""
        return self.mean + rng.standard_normal((n, len(self.mean))) @ self.between.T

    def photos(
        self, rng: np.random.Generator, centres: npt.NDArray[np.float64], per: int = 1
    ) -> F32:
        """``per`` unit-norm photos of each centre, rows grouped by centre."""
        repeated = np.repeat(centres, per, axis=0)
        x = repeated + rng.standard_normal(repeated.shape) @ self.within.T
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float32)


def _sqrt(cov: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    values, vectors = np.linalg.eigh(cov)
    return vectors * np.sqrt(np.clip(values, 0.0, None))


def similarity_profile(names: npt.NDArray[np.str_], vectors: F32) -> tuple[float, float]:
    """Mean cosine similarity of same-person and of different-person pairs."""
    s = vectors @ vectors.T
    same = names[:, None] == names[None, :]
    upper = np.triu(np.ones_like(same), 1).astype(bool)
    return float(s[same & upper].mean()), float(s[~same & upper].mean())
