"""Face detection on WIDER FACE photos: facewarden's modes beside face_recognition, one run.

face_recognition's ``face_locations(image)`` (its README's way) runs dlib's HOG
detector with one upsampling (``number_of_times_to_upsample=1``); when the
``face_recognition`` package is installed it is called itself, otherwise
dlib's HOG with upsample 1 is called directly (``hog-upsample``), which is
exactly what it runs. Every detector sees the same decoded pixels, one image
at a time on one core, and is scored by the same code as ``facewarden eval
detection`` (recall at IoU 0.5 per face width, AP50, false positives per
image), plus the median time per megapixel.

Run::

    .venv/bin/python benchmarks/detection.py                 # the 120 wider-dev photos
    .venv/bin/python benchmarks/detection.py --every 4       # a quarter of them
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facewarden import imaging
from facewarden.eval.wider import (
    BUCKETS,
    DetectionReport,
    match_image,
    read_wider_gt,
    score_detections,
)
from facewarden.vision.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
WIDER = ROOT.parent / "shared" / "data" / "wider-dev"

Boxes = tuple[list[tuple[float, float, float, float]], list[float]]


def _face_recognition() -> tuple[str, Callable[[np.ndarray], Boxes]]:
    try:
        import face_recognition
    except ImportError:
        from facewarden.vision.detect import HogDetector

        hog = HogDetector(upsample=1)

        def dlib_hog(image: np.ndarray) -> Boxes:
            faces = hog.detect(image)
            return [f.box.as_tuple() for f in faces], [f.detector_score for f in faces]

        return "face_recognition's detector (dlib HOG, upsample 1)", dlib_hog

    def theirs(image: np.ndarray) -> Boxes:
        found = face_recognition.face_locations(image)  # (top, right, bottom, left)
        return [(left, top, right, bottom) for top, right, bottom, left in found], [1.0] * len(
            found
        )

    return "face_recognition.face_locations", theirs


def _pipeline(mode: str) -> Callable[[np.ndarray], Boxes]:
    pipeline = Pipeline.from_mode(mode)

    def ours(image: np.ndarray) -> Boxes:
        faces = pipeline.run(image, embed=False)
        return [f.box.as_tuple() for f in faces], [f.detector_score for f in faces]

    return ours


def _run(
    label: str, detect: Callable[[np.ndarray], Boxes], images: list[tuple[object, np.ndarray]]
) -> tuple[DetectionReport, float]:
    detect(images[0][1])  # load the models outside the timing
    scored, per_mp = [], []
    for truth, image in images:
        started = time.perf_counter()
        boxes, scores = detect(image)
        spent = time.perf_counter() - started
        per_mp.append(spent / (image.shape[0] * image.shape[1] / 1e6))
        scored.append(match_image(truth, boxes, scores))  # type: ignore[arg-type]
    return score_detections(scored, label=label), statistics.median(per_mp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every", type=int, default=1, help="score every n-th image")
    parser.add_argument("--gt", type=Path, default=WIDER / "wider_face_dev_bbx_gt.txt")
    parser.add_argument("--images", type=Path, default=WIDER / "images")
    args = parser.parse_args()
    truths = read_wider_gt(args.gt)[:: args.every]
    images = [(t, imaging.decode(args.images / t.name)) for t in truths]
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    print(f"{len(images)} WIDER FACE images from {args.images}\n")
    peer_label, peer = _face_recognition()
    rows = [
        _run(peer_label, peer, images),
        _run("facewarden fast", _pipeline("fast"), images),
        _run("facewarden accurate", _pipeline("accurate"), images),
    ]
    header = "".join(f"  recall>={b:<3}" for b in BUCKETS)
    print(f"{'detector':52}{header}  AP50>=20  AP50 all  FP/image  s/MP")
    for report, seconds in rows:
        recall = "".join(f"  {report.recall[b]:>9.3f}" for b in BUCKETS)
        print(
            f"{report.label:52}{recall}  {report.ap50_min_width:8.3f}  {report.ap50_all:8.3f}"
            f"  {report.false_positives_per_image:8.2f}  {seconds:4.2f}"
        )
    peer_recall = rows[0][0].recall[20]
    for report, _ in rows[1:]:
        print(
            f"{report.label}: recall >= 20 px {report.recall[20] / peer_recall:.2f}x "
            "face_recognition's"
        )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
