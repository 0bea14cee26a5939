"""Run a pipeline's detector over a WIDER FACE ground truth and score it.

The images go through the real pipeline (:func:`~facewarden.vision.batch.run_batch`:
safe decoding, detection, landmarks and quality, no embeddings), so the
figures are those of ``facewarden detect`` on the same photos.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from facewarden.errors import EvaluationError
from facewarden.eval.wider import DetectionReport, GroundTruth, match_image, score_detections
from facewarden.vision.batch import run_batch
from facewarden.vision.pipeline import Pipeline

__all__ = ["evaluate_detection"]


def evaluate_detection(
    truths: list[GroundTruth],
    images: Path,
    pipeline: Pipeline,
    *,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> DetectionReport:
    """Detect the faces of every image of ``truths`` (under ``images``) and score them.

    Raises:
        EvaluationError: an image is missing or cannot be decoded.
    """
    paths = []
    for truth in truths:
        path = images / truth.name
        if not path.is_file():
            raise EvaluationError(f"the ground truth lists {truth.name}, not found in {images}")
        paths.append(path)
    started = time.perf_counter()
    scored = []
    for done, item in enumerate(run_batch(pipeline, paths, workers=workers, embed=False), 1):
        if item.error is not None:
            raise EvaluationError(f"{truths[item.index].name}: {item.error}")
        boxes = [f.box.as_tuple() for f in item.faces]
        scores = [f.detector_score for f in item.faces]
        scored.append(match_image(truths[item.index], boxes, scores))
        if on_progress is not None:
            on_progress(done, len(truths))
    report = score_detections(scored)
    report.seconds = time.perf_counter() - started
    return report
