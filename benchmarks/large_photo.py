"""The detector's work on one large photo: with the cap on P-Net's first level, and without it.

An 8000x5000 photo (40 MP, the upload limit) made from one of dlib's example
photos enlarged (no face of a person in it, as in the report that found the
cost), searched by the ``mtcnn`` preset as it is now (searched scaled down to
4 MP, ``max_level_pixels``) and as it was before the cap (``max_level_pixels``
unbounded: a 4096x2560 first level). One core, CPU seconds, median of
``--repeat`` runs after a warm-up; prints the ratio.

Run::

    .venv/bin/python benchmarks/large_photo.py
    .venv/bin/python benchmarks/large_photo.py --size 4000x3000 --photo 2008_002470.jpg
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import statistics
from pathlib import Path

import cv2

from facewarden import imaging
from facewarden.vision.detect import DETECTORS
from facewarden.vision.mtcnn_detect import MtcnnDetector

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "dlib" / "examples"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="8000x5000", help="WIDTHxHEIGHT of the photo")
    parser.add_argument("--photo", default="dogs.jpg", help="one of dlib's examples/faces photos")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    photo = imaging.decode(PHOTOS / "faces" / args.photo)
    image = cv2.resize(photo, (width, height), interpolation=cv2.INTER_LINEAR)
    capped = DETECTORS["mtcnn"]
    assert isinstance(capped, MtcnnDetector)
    uncapped = dataclasses.replace(capped, max_level_pixels=10**12)
    medians = {}
    for name, detector in (("before (no cap)", uncapped), ("now (4 MP cap)", capped)):
        faces = detector.detect(image)  # warm-up: models loaded, sessions built
        times = []
        for _ in range(args.repeat):
            start = _cpu()
            detector.detect(image)
            times.append(_cpu() - start)
        medians[name] = statistics.median(times)
        print(
            f"{name}: {medians[name]:.2f} s CPU (runs {', '.join(f'{t:.2f}' for t in times)}), "
            f"{len(faces)} faces, smallest face searched "
            f"{detector.smallest_face(width, height):.0f} px",
            flush=True,
        )
    before, now = medians.values()
    print(f"{args.size}: {before / now:.1f}x less CPU with the cap; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
