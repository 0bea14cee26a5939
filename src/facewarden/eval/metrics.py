"""Verification metrics on scores and labels: accuracy, thresholds, ROC, TAR at FAR.

Pure functions of numpy arrays. A pair is accepted when
``similarity >= threshold`` everywhere.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "Labels",
    "Scores",
    "accuracy_at",
    "best_threshold",
    "fold_accuracies",
    "roc_auc",
    "roc_curve",
    "tar_at_far",
    "threshold_at_far",
]

Scores = npt.NDArray[np.float64]
Labels = npt.NDArray[np.bool_]


def _checked(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[Scores, Labels]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.bool_).ravel()
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    if not y.any() or y.all():
        raise ValueError("need at least one matched and one mismatched pair")
    return s, y


def accuracy_at(scores: npt.ArrayLike, labels: npt.ArrayLike, threshold: float) -> float:
    """Fraction of pairs decided right when ``similarity >= threshold`` means "same"."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.bool_)
    return float(np.mean((s >= threshold) == y))


def best_threshold(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[float, float]:
    """The threshold with the highest accuracy on these pairs, and that accuracy.

    Every distinct decision is tried exactly (no grid): accept all, reject all,
    and each midpoint between consecutive distinct scores. Ties go to the
    highest, strictest threshold: fewer false accepts for the same accuracy,
    and pairs scored -1.0 for a failure are rejected even when every pair failed.
    """
    s, y = _checked(scores, labels)
    distinct = np.unique(s)
    candidates = np.concatenate(
        [distinct[:1], (distinct[:-1] + distinct[1:]) / 2, [np.nextafter(distinct[-1], np.inf)]]
    )
    genuine, impostor = np.sort(s[y]), np.sort(s[~y])
    true_accepts = genuine.size - np.searchsorted(genuine, candidates, side="left")
    true_rejects = np.searchsorted(impostor, candidates, side="left")
    correct = true_accepts + true_rejects
    best = correct.size - 1 - int(np.argmax(correct[::-1]))
    return float(candidates[best]), float(correct[best] / s.size)


def fold_accuracies(
    scores: npt.ArrayLike, labels: npt.ArrayLike, folds: npt.ArrayLike
) -> tuple[Scores, Scores]:
    """Per-fold accuracy with the threshold chosen on the other folds.

    With a single fold there are no other folds: the threshold is chosen on
    that fold itself, which is optimistic (the caller must say so).

    Returns:
        ``(accuracies, thresholds)``, one entry per fold in fold order.
    """
    s, y = _checked(scores, labels)
    f = np.asarray(folds).ravel()
    if f.shape != s.shape:
        raise ValueError(f"{s.size} scores but {f.size} fold indices")
    fold_ids = np.unique(f)
    accuracies, thresholds = [], []
    for fold in fold_ids:
        test = f == fold
        train = ~test if fold_ids.size > 1 else test
        threshold, _ = best_threshold(s[train], y[train])
        accuracies.append(accuracy_at(s[test], y[test], threshold))
        thresholds.append(threshold)
    return np.array(accuracies), np.array(thresholds)


def roc_curve(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[Scores, Scores]:
    """The ROC curve ``(fpr, tpr)``, one point per distinct score, from (0, 0) to (1, 1)."""
    s, y = _checked(scores, labels)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    # The last index of each run of equal scores: tied pairs enter the curve together.
    ends = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tpr = np.cumsum(y)[ends] / y.sum()
    fpr = np.cumsum(~y)[ends] / (~y).sum()
    return np.r_[0.0, fpr], np.r_[0.0, tpr]


def roc_auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Area under the ROC curve: P(a matched pair outscores a mismatched one), ties half.

    Computed by ranks (Mann-Whitney), equal to the trapezoid area under :func:`roc_curve`.
    """
    s, y = _checked(scores, labels)
    impostor = np.sort(s[~y])
    below = np.searchsorted(impostor, s[y], side="left")
    tied = np.searchsorted(impostor, s[y], side="right") - below
    return float((below.sum() + 0.5 * tied.sum()) / (y.sum() * impostor.size))


def tar_at_far(
    scores: npt.ArrayLike, labels: npt.ArrayLike, far: float = 1e-3
) -> tuple[float, float, float]:
    """True accept rate at the lowest threshold whose false accept rate is at most ``far``.

    The threshold sits just above the ``floor(far * n_impostors) + 1``-th highest
    impostor score, i.e. at the ``1 - far`` quantile of the impostor scores
    taken conservatively. With fewer than ``1 / far`` impostor pairs no false
    accept is allowed and this is the TAR at FAR 0.

    Returns:
        ``(tar, threshold, achieved_far)``.
    """
    if not 0 < far < 1:
        raise ValueError(f"far must be in (0, 1), got {far}")
    s, y = _checked(scores, labels)
    impostor = s[~y]
    threshold = threshold_at_far(impostor, far)
    return (float(np.mean(s[y] >= threshold)), threshold, float(np.mean(impostor >= threshold)))


def threshold_at_far(impostor: npt.ArrayLike, far: float) -> float:
    """The lowest threshold that at most a fraction ``far`` of the impostor scores reach.

    It sits just above the ``floor(far * n) + 1``-th highest impostor score.
    """
    if not 0 < far < 1:
        raise ValueError(f"far must be in (0, 1), got {far}")
    scores = np.asarray(impostor)
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    ordered = np.sort(scores.ravel())[::-1]
    if ordered.size == 0:
        raise ValueError("no impostor scores")
    # far * n can land just below a whole number in binary floating point.
    allowed = math.floor(far * ordered.size + 1e-9)
    # Step up in the scores' own precision: a float64 step above a float32
    # score rounds back onto it when float32 similarities are compared.
    above = np.nextafter(ordered[allowed], ordered.dtype.type(np.inf))
    return float(above)
