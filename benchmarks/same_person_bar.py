"""How often the enrollment's same-person bar refuses one person's photos, on LFW fold 1.

Enrollment refuses a face that does not reach the similarity at FMR 1e-2 with
the subject's other faces (:mod:`facewarden.service.same_person`). For two
photos that is exactly one pair comparison, so the LFW View 2 fold-1 pairs
(300 same-person, 300 different-person) measure it directly: the genuine
pairs below the bar are the false refusals, the impostor pairs reaching it
the different people it would still let in. The peer is the default
recognition operating point (FMR 1e-3), to show what a stricter bar costs.

Run (about 2 minutes on two cores, the accurate enrollment pipeline)::

    .venv/bin/python benchmarks/same_person_bar.py
    .venv/bin/python benchmarks/same_person_bar.py --mode fast --root DIR --pairs FILE
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from facewarden.eval.lfw import evaluate_lfw
from facewarden.match.thresholds import DEFAULT_FMR, threshold_for
from facewarden.service.same_person import SAME_PERSON_FMR
from facewarden.vision.pipeline import Pipeline

_FOLD = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw-fold1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", type=Path, default=_FOLD / "lfw")
    parser.add_argument("--pairs", type=Path, default=_FOLD / "pairs.txt")
    parser.add_argument("--mode", choices=["fast", "accurate"], default="accurate")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    pipeline = Pipeline.from_mode(args.mode)
    report = evaluate_lfw(args.root, args.pairs, pipeline=pipeline, workers=args.workers)
    scores = np.asarray(report.scores)
    genuine = np.asarray(report.labels, dtype=bool)
    print(f"{report.pipeline}; pairs that failed (no face): {report.failed_pairs}")
    for label, fmr in (("same-person bar", SAME_PERSON_FMR), ("recognition default", DEFAULT_FMR)):
        bar = threshold_for(pipeline, fmr)
        refused = int((scores[genuine] < bar).sum())
        let_in = int((scores[~genuine] >= bar).sum())
        print(
            f"{label:>19} FMR {fmr:g} (similarity {bar}): "
            f"{refused}/{int(genuine.sum())} same-person pairs refused "
            f"({refused / genuine.sum():.1%}), "
            f"{let_in}/{int((~genuine).sum())} different-person pairs let in"
        )
    if SAME_PERSON_FMR != DEFAULT_FMR:
        strict = threshold_for(pipeline, DEFAULT_FMR) / threshold_for(pipeline, SAME_PERSON_FMR)
        print(f"ratio of the default bar to the same-person bar: {strict:.4f}")


if __name__ == "__main__":
    main()
