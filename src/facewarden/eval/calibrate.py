"""Calibrating operating points: the similarity threshold for a target false match rate.

Given embeddings of images labelled by identity, every pair of images of
different people is an impostor comparison and every pair of the same
person a genuine one. The threshold at FMR ``f`` is the smallest similarity
that at most a fraction ``f`` of impostor pairs reach. Each result says how
many impostor pairs it rests on: a threshold at FMR 1e-4 from fewer than
about 10^5 impostor pairs is a rough estimate, and is reported as such.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facewarden.errors import EvaluationError
from facewarden.eval.metrics import threshold_at_far
from facewarden.vision.batch import run_batch
from facewarden.vision.pipeline import Pipeline, central_face

__all__ = ["Calibration", "calibrate_folder", "pair_scores", "threshold_at_fmr"]

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def pair_scores(
    embeddings: npt.NDArray[np.float32], labels: Sequence[str]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Similarities of all genuine pairs and all impostor pairs (each unordered pair once)."""
    if len(embeddings) != len(labels):
        raise ValueError("one label per embedding is needed")
    similarities = embeddings @ embeddings.T
    codes = np.unique(np.asarray(labels), return_inverse=True)[1]
    upper = np.triu_indices(len(labels), k=1)
    same = codes[upper[0]] == codes[upper[1]]
    scores = similarities[upper]
    return scores[same].astype(np.float32), scores[~same].astype(np.float32)


def threshold_at_fmr(impostor: npt.NDArray[np.float32], fmr: float) -> float:
    """The lowest threshold at which at most ``fmr`` of the impostor scores match."""
    if impostor.size == 0:
        raise EvaluationError("no impostor pairs: the images need at least two identities")
    return threshold_at_far(impostor, fmr)


@dataclass(frozen=True)
class Calibration:
    """Thresholds at several FMRs, with what they rest on and what they cost."""

    thresholds: dict[float, float]
    fnmr: dict[float, float]
    genuine_pairs: int
    impostor_pairs: int
    images: int
    identities: int
    images_without_face: tuple[str, ...]

    def format(self) -> str:
        lines = [
            f"{self.images} images of {self.identities} identities; "
            f"{self.genuine_pairs} genuine and {self.impostor_pairs} impostor pairs",
        ]
        for fmr, threshold in sorted(self.thresholds.items(), reverse=True):
            resting = fmr * self.impostor_pairs
            note = "" if resting >= 10 else f" (rough: rests on {resting:.1f} impostor pairs)"
            lines.append(
                f"FMR {fmr:g}: similarity >= {threshold:.4f}, FNMR {self.fnmr[fmr]:.4f}{note}"
            )
        if self.images_without_face:
            lines.append(f"no face found in {len(self.images_without_face)} image(s)")
        return "\n".join(lines)


def calibrate_folder(
    root: Path,
    pipeline: Pipeline,
    *,
    fmrs: Sequence[float] = (1e-2, 1e-3, 1e-4),
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    """Calibrate on a folder with one subfolder of photos per identity (LFW's layout)."""
    if not root.is_dir():
        raise EvaluationError(f"{root} is not a folder")
    paths, labels = [], []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        for image in sorted(person.iterdir()):
            if image.suffix.lower() in _IMAGE_SUFFIXES:
                paths.append(image)
                labels.append(person.name)
    if not paths:
        raise EvaluationError(f"{root} holds no identity subfolders with images")
    vectors, kept, missing = [], [], []
    for item in run_batch(pipeline, [os.fspath(p) for p in paths], workers=workers):
        face = central_face(item.faces, item.image_shape) if item.error is None else None
        if face is None:
            missing.append(item.name)
        else:
            vectors.append(face.require_embedding())
            kept.append(labels[item.index])
        if on_progress is not None:
            on_progress(item.index + 1, len(paths))
    genuine, impostor = pair_scores(np.array(vectors, dtype=np.float32), kept)
    thresholds = {fmr: threshold_at_fmr(impostor, fmr) for fmr in fmrs}
    fnmr = {
        fmr: float(np.mean(genuine < t)) if genuine.size else float("nan")
        for fmr, t in thresholds.items()
    }
    return Calibration(
        thresholds,
        fnmr,
        int(genuine.size),
        int(impostor.size),
        len(paths),
        len(set(labels)),
        tuple(missing),
    )
