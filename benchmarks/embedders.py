"""Faces per second of dlib's ResNet embedder and of its ONNX conversion, on the CPU.

Both embed the same real 150x150 dlib chips (aligned faces from the LFW fold)
in batches of 1, 8 and 32, in this one process, on one core each by default:
dlib's ResNet uses one core, and facewarden's batch pipeline runs one worker
process per core, so faces per second per core is what decides throughput.
``--threads 0`` lets onnxruntime use every core instead (one-process servers).

Each measurement embeds the chips (``--faces``, 64 by default) once to warm
up, then as many times as fit in ``--seconds`` (at least once), and reports
the best pass: the machine's other load only ever slows a pass down. The load
average is printed, since a busy shared machine slows both sides.

The ONNX model is converted on first use (cached under
``~/.cache/facewarden/models``); conversion time is not counted.

Run::

    .venv/bin/python benchmarks/embedders.py
    .venv/bin/python benchmarks/embedders.py --faces 128 --seconds 20 --threads 0
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facewarden import imaging
from facewarden.vision.align import align
from facewarden.vision.detect import HogDetector
from facewarden.vision.embed import DlibResnetEmbedder
from facewarden.vision.onnx_embed import OnnxResnetEmbedder

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw-fold1" / "lfw"
BATCH_SIZES = (1, 8, 32)


def load_chips(count: int) -> list[np.ndarray]:
    """``count`` dlib chips of LFW faces (reused cyclically if the fold has fewer)."""
    if not LFW.is_dir():
        raise SystemExit(f"{LFW} is absent: the benchmark needs the shared LFW fold")
    detector = HogDetector()
    chips: list[np.ndarray] = []
    for path in sorted(LFW.glob("*/*.jpg")):
        image = imaging.decode(path)
        faces = detector.detect(image)
        if faces:
            chips.append(align(image, faces[0].landmarks))
        if len(chips) == count:
            break
    return [chips[i % len(chips)] for i in range(count)]


def faces_per_second(
    embed: Callable[[list[np.ndarray]], np.ndarray],
    chips: list[np.ndarray],
    batch: int,
    seconds: float,
) -> float:
    """The best faces/s over repeated passes embedding ``chips`` ``batch`` at a time."""

    def one_pass() -> float:
        start = time.perf_counter()
        for first in range(0, len(chips), batch):
            embed(chips[first : first + batch])
        return time.perf_counter() - start

    one_pass()  # warm-up: model loading, allocator, caches
    best = one_pass()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        best = min(best, one_pass())
    return len(chips) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=64, help="chips per pass (default 64)")
    parser.add_argument("--seconds", type=float, default=8.0, help="time per measurement")
    parser.add_argument(
        "--threads", type=int, default=1, help="onnxruntime intra-op threads (0: all cores)"
    )
    args = parser.parse_args()

    chips = load_chips(args.faces)
    dlib_embedder = DlibResnetEmbedder()
    onnx_embedder = OnnxResnetEmbedder(threads=args.threads, batch_size=max(BATCH_SIZES))
    reference, converted = dlib_embedder.embed(chips[:8]), onnx_embedder.embed(chips[:8])
    worst = float((1.0 - np.sum(reference * converted, axis=1)).max())

    cores = len(os.sched_getaffinity(0))
    threads = "all cores" if args.threads == 0 else f"{args.threads} thread(s)"
    print(
        f"{len(chips)} LFW chips per pass, best of {args.seconds:g} s per measurement; "
        f"{cores} cores; onnxruntime on {threads}; "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    print(f"worst cosine distance dlib vs ONNX on 8 chips: {worst:.1e}\n")
    header = f"{'batch':>5}  {'dlib faces/s':>12}  {'ONNX faces/s':>12}  {'ONNX / dlib':>11}"
    print(header)
    print("-" * len(header))
    for batch in BATCH_SIZES:
        dlib_rate = faces_per_second(dlib_embedder.embed, chips, batch, args.seconds)
        onnx_rate = faces_per_second(onnx_embedder.embed, chips, batch, args.seconds)
        print(
            f"{batch:>5}  {dlib_rate:>12.1f}  {onnx_rate:>12.1f}  {onnx_rate / dlib_rate:>10.1f}x"
        )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
