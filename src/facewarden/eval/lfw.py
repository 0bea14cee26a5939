"""The LFW View 2 verification protocol on any ``pairs.txt`` in the official format.

The pairs file is read by :func:`~facewarden.eval.lfw_pairs.parse_pairs`
(re-exported here with :class:`~facewarden.eval.lfw_pairs.Pair`, as the
scoring functions are).

Each distinct image is run through a :class:`~facewarden.vision.pipeline.Pipeline`
once; the face the photo is about (:func:`~facewarden.vision.pipeline.central_face`)
gives its embedding and a pair's score is the cosine similarity of the two.

Failures to enrol are counted, never excluded: an image that is missing, cannot
be decoded, or shows no face gives every pair it is in the similarity -1.0, the
lowest cosine similarity there is. Such a pair is rejected at any threshold
above -1, so a matched pair counts as a false reject and a mismatched pair as a
correct reject. This is how the published protocol treats failures when no
exclusion is allowed, and it keeps a detector that gives up from looking better.

The scoring functions live in :mod:`facewarden.eval.metrics` (re-exported
here). A pair is accepted when ``similarity >= threshold`` everywhere.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facewarden.errors import ConfigError
from facewarden.eval.lfw_pairs import Pair, parse_pairs
from facewarden.eval.metrics import (
    Labels,
    Scores,
    accuracy_at,
    best_threshold,
    fold_accuracies,
    roc_auc,
    roc_curve,
    tar_at_far,
)
from facewarden.vision.batch import run_batch
from facewarden.vision.pipeline import MODES, Pipeline, central_face

__all__ = [
    "LfwReport",
    "Pair",
    "accuracy_at",
    "best_threshold",
    "evaluate_lfw",
    "fold_accuracies",
    "format_report",
    "parse_pairs",
    "plot_roc",
    "roc_auc",
    "roc_curve",
    "tar_at_far",
]

ProgressCallback = Callable[[int, int], None]

#: The similarity a pair gets when one of its images yielded no embedding.
FAILURE_SIMILARITY = -1.0


@dataclass(frozen=True, eq=False)
class LfwReport:
    """The outcome of one LFW evaluation.

    Attributes:
        pipeline: what was evaluated (mode name, detector, embedder, views averaged).
        n_folds: folds in the pairs file.
        pairs_per_class: matched (and mismatched) pairs per fold.
        fold_accuracies: accuracy of each fold at the threshold chosen for it.
        fold_thresholds: the similarity threshold used on each fold.
        accuracy_mean: mean of ``fold_accuracies``.
        accuracy_std: population standard deviation of ``fold_accuracies``.
        protocol_note: how the thresholds were chosen, and any caveat.
        roc_auc: area under the ROC curve over all pairs.
        far: the false accept rate the TAR is reported at.
        tar: true accept rate at ``far`` over all pairs.
        tar_threshold: the similarity threshold behind ``tar``.
        achieved_far: the false accept rate actually reached at ``tar_threshold``.
        impostor_pairs: mismatched pairs ``tar`` rests on.
        best_threshold: the accuracy-maximising threshold over all pairs.
        best_accuracy: the accuracy at ``best_threshold`` (optimistic).
        images: distinct images in the pairs file.
        no_face_images: images decoded fine in which no face was found.
        unreadable_images: ``(path, reason)`` of images missing or not decodable.
        failed_pairs: pairs scored -1.0 because of the two lists above.
        embedding_seconds: wall-clock time of the embedding phase (pool start included).
        images_per_second: images run through the pipeline over ``embedding_seconds``.
        scores: similarity of each pair, in file order.
        labels: True for matched pairs, in file order.
    """

    pipeline: str
    n_folds: int
    pairs_per_class: int
    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]
    accuracy_mean: float
    accuracy_std: float
    protocol_note: str
    roc_auc: float
    far: float
    tar: float
    tar_threshold: float
    achieved_far: float
    impostor_pairs: int
    best_threshold: float
    best_accuracy: float
    images: int
    no_face_images: tuple[str, ...]
    unreadable_images: tuple[tuple[str, str], ...]
    failed_pairs: int
    embedding_seconds: float
    images_per_second: float
    scores: Scores = field(repr=False)
    labels: Labels = field(repr=False)

    def roc(self) -> tuple[Scores, Scores]:
        """The ROC curve ``(fpr, tpr)`` over all pairs."""
        return roc_curve(self.scores, self.labels)

    def to_dict(self, *, include_scores: bool = False) -> dict[str, object]:
        """Plain data for JSON; per-pair scores only when asked for."""
        hidden = {"scores", "labels", "unreadable_images"}
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}
        data["unreadable_images"] = [{"path": p, "reason": r} for p, r in self.unreadable_images]
        if include_scores:
            data.update(scores=self.scores.tolist(), labels=self.labels.tolist())
        return data


def _describe(pipeline: Pipeline) -> str:
    mode = next((name for name, preset in MODES.items() if preset == pipeline), "custom")
    views = ["chip"] + (["mirror"] if pipeline.mirror else [])
    if pipeline.jitters:
        views.append(f"{pipeline.jitters} jitters")
    return (
        f"{mode} (detector {pipeline.detector.name}, embedder {pipeline.embedder.name}, "
        f"views averaged: {' + '.join(views)})"
    )


def evaluate_lfw(
    root: str | os.PathLike[str],
    pairs_path: str | os.PathLike[str],
    *,
    pipeline: Pipeline,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
    far: float = 1e-3,
) -> LfwReport:
    """Run the LFW View 2 protocol with ``pipeline`` on the pairs of ``pairs_path``.

    Args:
        root: folder with one subfolder of images per person.
        pairs_path: pairs file in the official format.
        pipeline: detects and embeds; the central face of each image is used.
        workers: processes for the embedding phase (``None``: one per core).
        on_progress: called as ``on_progress(done, total)`` after each image.
        far: the false accept rate to report the TAR at.

    Raises:
        EvaluationError: the pairs file is malformed.
    """
    pairs = parse_pairs(pairs_path, root)
    n_folds = pairs[-1].fold + 1
    paths = sorted({p.first for p in pairs} | {p.second for p in pairs})
    present = [p for p in paths if p.is_file()]
    unreadable = {str(p): "file not found" for p in paths if not p.is_file()}
    embeddings: dict[str, npt.NDArray[np.float32]] = {}
    no_face: list[str] = []
    done = len(unreadable)
    if on_progress is not None and done:
        on_progress(done, len(paths))
    start = time.perf_counter()
    for item in run_batch(pipeline, [os.fspath(p) for p in present], workers=workers):
        path = os.fspath(present[item.index])
        if item.error is not None:
            unreadable[path] = item.error.message
        else:
            face = central_face(item.faces, item.image_shape)
            if face is None or face.embedding is None:
                no_face.append(path)
            else:
                embeddings[path] = face.embedding
        done += 1
        if on_progress is not None:
            on_progress(done, len(paths))
    seconds = time.perf_counter() - start

    scores = np.full(len(pairs), FAILURE_SIMILARITY)
    failed = np.ones(len(pairs), dtype=np.bool_)
    for k, pair in enumerate(pairs):
        a, b = embeddings.get(str(pair.first)), embeddings.get(str(pair.second))
        if a is not None and b is not None:
            scores[k] = float(np.dot(a.astype(np.float64), b.astype(np.float64)))
            failed[k] = False
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    scores.setflags(write=False)  # the report is frozen; so are its arrays
    labels.setflags(write=False)

    accuracies, thresholds = fold_accuracies(scores, labels, folds)
    if n_folds > 1:
        note = f"{n_folds}-fold: each fold's threshold chosen on the other {n_folds - 1} folds"
    else:
        note = (
            "1 fold only: the threshold is chosen on the same pairs it is tested on, "
            "so the accuracy is optimistic and has no spread; run all 10 folds to compare"
        )
    tar, tar_threshold, achieved_far = tar_at_far(scores, labels, far)
    overall_threshold, overall_accuracy = best_threshold(scores, labels)
    return LfwReport(
        pipeline=_describe(pipeline),
        n_folds=n_folds,
        pairs_per_class=len(pairs) // (2 * n_folds),
        fold_accuracies=tuple(float(a) for a in accuracies),
        fold_thresholds=tuple(float(t) for t in thresholds),
        accuracy_mean=float(accuracies.mean()),
        accuracy_std=float(accuracies.std()),
        protocol_note=note,
        roc_auc=roc_auc(scores, labels),
        far=far,
        tar=tar,
        tar_threshold=tar_threshold,
        achieved_far=achieved_far,
        impostor_pairs=int((~labels).sum()),
        best_threshold=overall_threshold,
        best_accuracy=overall_accuracy,
        images=len(paths),
        no_face_images=tuple(sorted(no_face)),
        unreadable_images=tuple(sorted(unreadable.items())),
        failed_pairs=int(failed.sum()),
        embedding_seconds=seconds,
        images_per_second=len(present) / seconds if seconds > 0 else 0.0,
        scores=scores,
        labels=labels,
    )


def format_report(report: LfwReport) -> str:
    """A human-readable summary of ``report``."""
    r = report
    lines = [
        f"LFW verification, {r.pipeline}",
        f"  protocol      {r.protocol_note}",
        f"  pairs         {r.n_folds} fold(s) x {r.pairs_per_class} matched + "
        f"{r.pairs_per_class} mismatched; {r.images} distinct images",
        f"  accuracy      {r.accuracy_mean:.4f} +- {r.accuracy_std:.4f}",
        f"  ROC AUC       {r.roc_auc:.4f}",
        f"  TAR@FAR{r.far:g}  {r.tar:.4f} at similarity >= {r.tar_threshold:.4f} "
        f"(FAR reached {r.achieved_far:.2g}, rests on {r.impostor_pairs} impostor pairs)",
        f"  best overall  similarity >= {r.best_threshold:.4f}: accuracy {r.best_accuracy:.4f} "
        "(chosen on all pairs, optimistic)",
        f"  speed         {r.images_per_second:.1f} images/s "
        f"({r.embedding_seconds:.1f} s embedding phase)",
    ]
    if r.impostor_pairs * r.far < 1:
        lines.append(
            f"  note          {r.impostor_pairs} impostor pairs cannot resolve FAR {r.far:g}: "
            "no false accept is allowed, so this is TAR at FAR 0"
        )
    if r.no_face_images or r.unreadable_images:
        lines.append(
            f"  failures      {r.failed_pairs} pair(s) scored -1.0 (counted, not excluded)"
        )
        lines.extend(f"    no face: {path}" for path in r.no_face_images)
        lines.extend(f"    unreadable: {path}: {why}" for path, why in r.unreadable_images)
    else:
        lines.append("  failures      none: a face was found in every image")
    return "\n".join(lines)


def plot_roc(report: LfwReport, path: str | os.PathLike[str]) -> Path:
    """Draw the ROC curve of ``report`` to an image file (PNG, SVG, PDF by suffix).

    Raises:
        ConfigError: matplotlib is not installed (``pip install 'facewarden[plot]'``).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("plotting needs matplotlib: pip install 'facewarden[plot]'") from None
    fpr, tpr = report.roc()
    # Figure + Agg canvas directly: no pyplot global state, no GUI backend.
    figure = Figure(figsize=(10, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    linear, logarithmic = figure.subplots(1, 2)
    label = f"AUC {report.roc_auc:.4f}"
    linear.plot(fpr, tpr, label=label)
    linear.plot([0, 1], [0, 1], linestyle=":", color="grey")
    linear.set(xlim=(0, 1), ylim=(0, 1.01), title="ROC")
    # A log FAR axis shows the low-FAR end that decisions are taken at; FAR 0
    # is drawn at half the resolution the impostor pairs allow.
    floor = 1 / (2 * report.impostor_pairs)
    logarithmic.plot(np.maximum(fpr, floor), tpr, label=label)
    logarithmic.set_xscale("log")
    tar_at_far_zero = float(tpr[np.searchsorted(fpr, 0.0, side="right") - 1])
    logarithmic.set(
        xlim=(floor, 1),
        ylim=(max(0.0, tar_at_far_zero - 0.05), 1.005),
        title="ROC, log false accept rate",
    )
    for axes in (linear, logarithmic):
        axes.set(xlabel="false accept rate", ylabel="true accept rate")
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right")
    figure.suptitle(f"LFW, {report.pipeline}")
    out = Path(path)
    figure.savefig(out, dpi=120)
    return out
