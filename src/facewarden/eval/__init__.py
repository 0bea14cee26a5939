"""Evaluators on public benchmark formats (LFW View 2 pairs, ...)."""

from facewarden.eval.lfw import (
    LfwReport,
    Pair,
    accuracy_at,
    best_threshold,
    evaluate_lfw,
    fold_accuracies,
    format_report,
    parse_pairs,
    plot_roc,
    roc_auc,
    roc_curve,
    tar_at_far,
)

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
