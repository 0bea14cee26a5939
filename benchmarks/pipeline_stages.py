"""Where a facewarden mode spends its CPU per image: a stage-by-stage profile.

Runs ``Pipeline.from_mode(mode)`` in this process on chunks of images as
``run_batch``'s workers get them (``Pipeline.run_many``: one embedding batch
per chunk), on the LFW fold (``../shared/data/lfw-fold1``, 250x250) or on the
images of ``--images DIR``, and prints the CPU milliseconds per image of each
stage:

* decoding (``imaging.decode``, the safe decoder);
* the detector, split into its networks (MTCNN's P-Net over the pyramid,
  R-Net, O-Net; named by the ONNX Runtime call), its non-maximum
  suppression, dlib's 5-point landmark fit, and the rest (the pyramid's
  resizing, the crops for R-Net and O-Net, the glue);
* alignment (dlib's chip), the quality verdict, and the embeddings (each
  view of each face is one ResNet run) of the faces fit for recognition, as
  identification and ``benchmarks/pipeline_vs_face_recognition.py`` embed
  them (``--embed-all``: every face);
* once per process: the imports and the first image (model loading, and the
  conversion to ONNX when nothing is cached yet);
* with ``--pool``: what starting ``run_batch``'s worker pool costs (spawn,
  imports and model loading in each worker), measured on one image per worker.

CPU time (``time.process_time``) rather than wall-clock, so that other work
on a shared machine inflates the figures less; ONNX Runtime and OpenCV run
one thread each here, as in the batch workers.

Run::

    .venv/bin/python benchmarks/pipeline_stages.py                  # fast mode, 807 LFW images
    .venv/bin/python benchmarks/pipeline_stages.py --mode accurate --limit 200 --pool
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

START = time.process_time()

from facewarden.vision import mtcnn_boxes, mtcnn_detect, onnx_embed, pipeline  # noqa: E402
from facewarden.vision.batch import run_batch  # noqa: E402
from facewarden.vision.pipeline import Pipeline, is_usable  # noqa: E402

IMPORTED = time.process_time()

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw-fold1" / "lfw"

spent: defaultdict[str, float] = defaultdict(float)
calls: defaultdict[str, int] = defaultdict(int)


def timed(label: str | Callable[..., str], function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` adding its CPU time to ``spent[label]`` (a label, or one made from the call)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            name = label if isinstance(label, str) else label(*args, **kwargs)
            spent[name] += time.process_time() - start
            calls[name] += 1

    return wrapper


def instrument(pipe: Pipeline) -> Pipeline:
    """``pipe`` with its stages, and those of the modules it calls, wrapped in CPU timers."""
    # Each network's call names it: "MTCNN P-Net", "MTCNN rnet", "MTCNN onet".
    mtcnn_detect.run = timed(lambda runtime, feeds, *, what: what, mtcnn_detect.run)  # type: ignore[assignment]
    mtcnn_detect.suppress = timed("NMS", mtcnn_detect.suppress)  # type: ignore[assignment]
    mtcnn_boxes.suppress = timed("NMS", mtcnn_boxes.suppress)  # type: ignore[assignment]
    mtcnn_detect.fit_landmarks = timed("landmarks", mtcnn_detect.fit_landmarks)  # type: ignore[assignment]
    onnx_embed.run = timed("embedding (ResNet)", onnx_embed.run)  # type: ignore[assignment]
    pipeline.assess = timed("quality", pipeline.assess)  # type: ignore[assignment]
    pipeline.align = timed("alignment", pipeline.align)  # type: ignore[assignment]
    return dataclasses.replace(pipe, detector=_TimedDetector(pipe.detector))


class _TimedDetector:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name

    def detect(self, image: Any) -> Any:
        start = time.process_time()
        try:
            return self.inner.detect(image)
        finally:
            spent["detector"] += time.process_time() - start

    def __getattr__(self, name: str) -> Any:
        # detect_many, where the detector has it (Pipeline.run_many looks for it).
        if name != "detect_many" or not hasattr(self.inner, name):
            raise AttributeError(name)

        def detect_many(images: Any) -> Any:
            start = time.process_time()
            try:
                return self.inner.detect_many(images)
            finally:
                spent["detector"] += time.process_time() - start

        return detect_many


def cpu_with_children() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", default="fast", choices=["fast", "accurate"])
    parser.add_argument("--images", type=Path, default=LFW, help="folder of images (recursive)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images")
    parser.add_argument("--pool", action="store_true", help="also time the worker pool's start")
    parser.add_argument(
        "--chunk",
        type=int,
        default=4,
        help="images per Pipeline.run_many call (run_batch's chunksize; 1: Pipeline.run)",
    )
    parser.add_argument(
        "--embed-all", action="store_true", help="embed every face, not only the usable ones"
    )
    args = parser.parse_args()
    embed = True if args.embed_all else is_usable
    paths = sorted(p for p in args.images.rglob("*") if p.suffix.lower() in {".jpg", ".png"})
    paths = paths[: args.limit]
    if not paths:
        sys.exit(f"no images under {args.images}")

    # As in run_batch's workers: otherwise OpenCV's pool threads, spinning after
    # each resize, add their CPU time to whatever stage runs next.
    import cv2

    cv2.setNumThreads(1)
    pipe = Pipeline.from_mode(args.mode)
    first = time.process_time()
    pipe.run(pipe.decode(str(paths[0])))
    loading = time.process_time() - first

    pipe = instrument(pipe)
    faces = embedded = 0
    total = time.process_time()
    for first_of_chunk in range(0, len(paths), args.chunk):
        images = []
        for path in paths[first_of_chunk : first_of_chunk + args.chunk]:
            start = time.process_time()
            images.append(pipe.decode(str(path)))
            spent["decode"] += time.process_time() - start
        start = time.process_time()
        found = pipe.run_many(images, embed=embed)
        spent["run"] += time.process_time() - start
        faces += sum(len(f) for f in found)
        embedded += sum(face.embedding is not None for f in found for face in f)
    total = time.process_time() - total

    n = len(paths)
    networks = sum(v for k, v in spent.items() if k.startswith("MTCNN"))
    inside = networks + spent["NMS"] + spent["landmarks"]
    embedding = spent["embedding (ResNet)"]
    rows = [
        ("decode", spent["decode"]),
        ("detector", spent["detector"]),
        *[(f"  {k}", v) for k, v in sorted(spent.items()) if k.startswith("MTCNN")],
        ("  NMS", spent["NMS"]),
        ("  landmarks (dlib 5-point fit)", spent["landmarks"]),
        ("  pyramid resizing, crops, glue", spent["detector"] - inside),
        ("alignment", spent["alignment"]),
        ("quality", spent["quality"]),
        ("embedding (ResNet)", embedding),
        (
            "rest of Pipeline.run_many",
            spent["run"] - spent["detector"] - spent["alignment"] - spent["quality"] - embedding,
        ),
    ]
    print(
        f"{args.mode} mode on {n} images of {args.images} ({faces / n:.2f} faces per image, "
        f"{embedded / n:.2f} embedded); "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'stage':<36} {'CPU ms/image':>12} {'share':>6}")
    for name, seconds in rows:
        print(f"{name:<36} {1000 * seconds / n:>12.2f} {seconds / total:>6.0%}")
    print(f"{'total':<36} {1000 * total / n:>12.2f}")
    runs = ", ".join(f"{k.strip()} {calls[k] / n:.1f}" for k in sorted(calls) if "MTCNN" in k)
    print(f"network calls per image: {runs}; ResNet runs {calls['embedding (ResNet)'] / n:.1f}")
    print(
        f"once per process: imports {1000 * (IMPORTED - START):.0f} ms, "
        f"first image (model loading) {1000 * loading:.0f} ms CPU"
    )
    if args.pool:
        workers = 2
        wall, cpu = time.perf_counter(), cpu_with_children()
        sources = [str(p) for p in paths[:workers]]
        list(run_batch(Pipeline.from_mode(args.mode), sources, workers=workers, chunksize=1))
        print(
            f"worker pool of {workers}, one image each: {time.perf_counter() - wall:.2f} s wall, "
            f"{cpu_with_children() - cpu:.2f} s CPU (spawn, imports, model loading)"
        )


if __name__ == "__main__":
    main()
