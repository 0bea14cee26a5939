"""A 1080p camera at CCTV distances: facewarden's frame processor against face_recognition.

The scene (``--seconds`` of 1080p at 25 fps) is made from real photos of
../shared/data/faces: eight people walk across a textured backdrop at once
or in turn, their faces 24 to 96 px wide (two of each of 24, 36, 56 and
96 px, drawn to scale from the photos, so a small face is a real face seen
from further away, not a sharp thumbnail); three of them are enrolled, from
other photos than the ones walking, at 56 and 96 px: a face below 40 px is
found, tracked and counted but too small to identify (its quality verdict
says so), so a sighting needs the person closer. The frame budget is ``--fps-budget``
frames per second of video time (5, ``facewarden watch``'s default), as a
camera runs. On the frames that budget keeps, in one run:

* ``facewarden``: the frame processor as ``facewarden watch`` runs it
  (small-face detector on the whole frame every 3rd frame and where the
  faces went between, embeddings of the faces their tracks need, tracking,
  identification per track, sightings, the body detector every 5th frame
  (``--no-people``: none), crowd counters), timed;
* ``face_recognition``: ``face_locations`` (HOG upsampled once, its README's
  way) on ``--naive-frames`` of those frames spread over the video (it is
  slow), timed and extrapolated.

Reported for each: faces found per face size (the share of the walkers
visible in the processed frames whose face a detection covers, IoU >= 0.3),
false faces, seconds per frame (mean, median and CPU seconds: the wall time
of a shared machine includes waiting for other processes), frames per
second, and the lag behind real time: how far
behind the camera the last frame's result comes when the frames arrive
live at the budget (``max(0, processing time - video time)``). facewarden's
line also gives the sightings (expected: one per enrolled walker).

Run (face_recognition with ``--no-deps``: its ``dlib`` requirement would
compile dlib, while facewarden's ``dlib-bin`` wheel already provides it; without
it the same HOG call is made through dlib directly)::

    .venv/bin/pip install --no-deps face_recognition
    .venv/bin/python benchmarks/video.py                 # 10 s of 1080p
    .venv/bin/python benchmarks/video.py --seconds 4 --naive-frames 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT.parent / "shared" / "data" / "faces" / "face_recognition" / "examples"
TRAIN = FACES / "knn_examples" / "train"
LFW = ROOT.parent / "shared" / "data" / "lfw-fold1" / "lfw"
FPS = 25.0
SIZE = (1920, 1080)
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
# (name, photo walking, enrolled photo (another one) or None, face width in px)
PEOPLE = [
    ("rose", TRAIN / "rose_leslie/img2.jpg", None, 24),
    ("alex", TRAIN / "alex_lacamoire/img1.jpg", None, 24),
    ("lin", FACES / "lin-manuel-miranda.png", None, 36),
    ("smith", LFW / "Afton_Smith/Afton_Smith_0001.jpg", None, 36),
    ("obama", TRAIN / "obama/obama2.jpg", TRAIN / "obama/obama.jpg", 56),
    ("biden", TRAIN / "biden/biden2.jpg", TRAIN / "biden/biden.jpg", 56),
    ("kit", TRAIN / "kit_harington/john2.jpeg", TRAIN / "kit_harington/john1.jpeg", 96),
    ("pacheco", LFW / "Abel_Pacheco/Abel_Pacheco_0001.jpg", None, 96),
]
# face_crop's tile is 1.8x the long side (the height) of the face's MTCNN box, and
# an MTCNN face box is about 0.735x as wide as it is tall.
FACE_ASPECT = 1.36
TILE_PER_FACE = 1.8 * FACE_ASPECT


@dataclass
class Counts:
    """Faces found per size over processed frames, false faces and time."""

    seen: dict[int, int] = field(default_factory=dict)
    found: dict[int, int] = field(default_factory=dict)
    false: int = 0
    frames: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    per_frame: list[float] = field(default_factory=list)

    def add(self, truth: list[tuple[int, tuple[float, float, float, float]]], boxes: list) -> None:  # type: ignore[type-arg]
        from facewarden.types import Box

        self.frames += 1
        unmatched = [Box(*b) for b in boxes]
        for size, rect in truth:
            box = Box(*rect)
            self.seen[size] = self.seen.get(size, 0) + 1
            best = max(unmatched, key=box.iou, default=None)
            if best is not None and box.iou(best) >= 0.3:
                unmatched.remove(best)
                self.found[size] = self.found.get(size, 0) + 1
        self.false += len(unmatched)

    def by_size(self) -> str:
        return "  ".join(
            f"{size} px {self.found.get(size, 0) / max(1, n):.2f}"
            for size, n in sorted(self.seen.items())
        )


def _walks(seconds: float) -> list[object]:
    from tests.cameras._video import Walk, face_crop

    width, height = SIZE
    walks: list[object] = []
    for index, (name, photo, _, face) in enumerate(PEOPLE):
        tile = max(16, round(face * TILE_PER_FACE))
        y = 40 + int((height - tile - 80) * index / (len(PEOPLE) - 1))
        start = (seconds * 0.4) * (index % 4) / 4
        end = min(seconds, start + seconds * 0.6)
        left, right = 40 + 60 * index, width - tile - 40 - 60 * index
        origin, target = ((left, y), (right, y + 30)) if index % 2 else ((right, y), (left, y - 30))
        walks.append(Walk(name, face_crop(photo, tile), start, end, origin, target))
    return walks


def _truth(walks: list[object], t: float) -> list[tuple[int, tuple[float, float, float, float]]]:
    """The faces visible at ``t``: (face width, face box ``xyxy``)."""
    out = []
    for walk, (_, _, _, face) in zip(walks, PEOPLE, strict=True):
        position = walk.position(t)  # type: ignore[attr-defined]
        if position is None:
            continue
        x, y = position
        tile = walk.tile.shape[0]  # type: ignore[attr-defined]
        cx, cy = x + tile / 2, y + tile / 2
        half_w, half_h = face / 2, face * FACE_ASPECT / 2
        out.append((face, (cx - half_w, cy - half_h, cx + half_w, cy + half_h)))
    return out


def _frames(walks: list[object], seconds: float, budget: float) -> list[tuple[float, np.ndarray]]:
    """The frames the budget keeps (rendered directly: the same pixels a decoder gives)."""
    from tests.cameras._video import background, frame_at

    backdrop = background(*SIZE)
    step = max(1, round(FPS / budget))
    return [
        (index / FPS, frame_at(index / FPS, walks, backdrop))  # type: ignore[arg-type]
        for index in range(0, round(seconds * FPS), step)
    ]


class _Recording:
    """A detector that keeps the boxes of every frame it saw."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "recorded")
        self.boxes: list[list[tuple[float, float, float, float]]] = []

    def reset(self) -> None:  # the frame processor's first frame is searched whole
        self.inner.reset()  # type: ignore[attr-defined]

    def detect(self, image: np.ndarray) -> list:  # type: ignore[type-arg]
        faces = self.inner.detect(image)  # type: ignore[attr-defined]
        self.boxes.append([f.box.as_tuple() for f in faces])
        return faces  # type: ignore[no-any-return]


def _facewarden(
    frames: list[tuple[float, np.ndarray]], walks: list[object], folder: Path, people: bool
) -> tuple[Counts, int]:
    import dataclasses

    from facewarden.config import Settings
    from facewarden.privacy import ManualClock
    from facewarden.service import SubjectRecord, Warden
    from facewarden.service.frames import FrameProcessor, video_pipeline
    from facewarden.vision.people import PeopleDetector

    settings = Settings(data_dir=folder / "data", key_dir=folder / "keys", mode="fast", workers=1)
    counts = Counts()
    with Warden.open(settings, clock=ManualClock(T0), create=True) as warden:
        warden.watchlists.create("gate", purpose="benchmark", lawful_basis="test")
        for name, _, enrolled, _ in PEOPLE:
            if enrolled is not None:
                record = SubjectRecord(full_name=name, lawful_basis="test")
                warden.registry.enroll(record, [enrolled], watchlists=["gate"])
        warden.warm_up()
        warden.cameras.add("cam", location="benchmark", watchlists=["gate"])
        pipeline = video_pipeline(warden.pipeline, *SIZE)
        recording = _Recording(pipeline.detector)
        pipeline = dataclasses.replace(pipeline, detector=recording)  # type: ignore[arg-type]
        bodies = PeopleDetector() if people else None
        processor = FrameProcessor(warden, "cam", pipeline=pipeline, people=bodies)
        processor.process(frames[0][1], T0 - timedelta(seconds=60))  # load the models
        recording.boxes.clear()
        processor = FrameProcessor(warden, "cam", pipeline=pipeline, people=bodies)
        sightings = 0
        started, cpu = time.perf_counter(), time.process_time()
        for t, frame in frames:
            begun = time.perf_counter()
            sightings += len(processor.process(frame, T0 + timedelta(seconds=t)).new_sightings)
            counts.per_frame.append(time.perf_counter() - begun)
        processor.finish(T0 + timedelta(seconds=frames[-1][0] + 1))
        counts.seconds = time.perf_counter() - started
        counts.cpu_seconds = time.process_time() - cpu
    for (t, _), boxes in zip(frames, recording.boxes, strict=True):
        counts.add(_truth(walks, t), boxes)
    return counts, sightings


def _face_recognition() -> tuple[str, Callable[[np.ndarray], list]]:  # type: ignore[type-arg]
    try:
        import face_recognition
    except ImportError:
        from facewarden.vision.detect import HogDetector

        hog = HogDetector(upsample=1)
        return "dlib HOG upsample 1 (= face_recognition)", lambda image: [
            f.box.as_tuple() for f in hog.detect(image)
        ]
    return "face_recognition", lambda image: [
        (left, top, right, bottom)
        for top, right, bottom, left in face_recognition.face_locations(image)
    ]


def _naive(frames: list[tuple[float, np.ndarray]], walks: list[object], limit: int) -> Counts:
    label, locate = _face_recognition()
    counts = Counts()
    picked = frames[:: max(1, len(frames) // limit)][:limit]
    for t, frame in picked:
        started, cpu = time.perf_counter(), time.process_time()
        boxes = locate(frame)
        counts.per_frame.append(time.perf_counter() - started)
        counts.seconds += counts.per_frame[-1]
        counts.cpu_seconds += time.process_time() - cpu
        counts.add(_truth(walks, t), boxes)
    print(f"  (face_recognition: {label}, {len(picked)} frames)")
    return counts


def _line(label: str, counts: Counts, frames: int, video_s: float) -> str:
    per_frame = counts.seconds / max(1, counts.frames)
    lag = max(0.0, per_frame * frames - video_s)
    return (
        f"  {label:22} {per_frame:6.3f} s/frame (median {statistics.median(counts.per_frame):.3f}, "
        f"CPU {counts.cpu_seconds / max(1, counts.frames):.3f}), {1 / per_frame:5.1f} frames/s  "
        f"lag after {video_s:.0f} s: {lag:5.1f} s  "
        f"false faces/frame {counts.false / max(1, counts.frames):.2f}\n"
        f"  {'':22} faces found by width: {counts.by_size()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps-budget", type=float, default=5.0)
    parser.add_argument("--naive-frames", type=int, default=8)
    parser.add_argument(
        "--people",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the body detector (every 5th frame), as facewarden watch does by default",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # the synthetic-scene helpers of the tests
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    walks = _walks(args.seconds)
    frames = _frames(walks, args.seconds, args.fps_budget)
    enrolled = sum(1 for p in PEOPLE if p[2] is not None)
    print(
        f"\n1080p, {args.seconds:g} s at 25 fps, {len(PEOPLE)} people (faces 24 to 96 px, "
        f"{enrolled} enrolled), {len(frames)} frames at a {args.fps_budget:g} fps budget:"
    )
    with tempfile.TemporaryDirectory() as tmp:
        ours, sightings = _facewarden(frames, walks, Path(tmp), args.people)
    print(_line("facewarden", ours, len(frames), args.seconds))
    print(f"  {'':22} sightings {sightings} (expected {enrolled})")
    naive = _naive(frames, walks, args.naive_frames)
    print(_line("face_recognition", naive, len(frames), args.seconds))
    ratio = (naive.seconds / max(1, naive.frames)) / (ours.seconds / max(1, ours.frames))
    print(f"  facewarden is {ratio:.1f}x faster per frame")
    keeps_up = ours.seconds / max(1, ours.frames) <= 1 / args.fps_budget
    print(f"  keeps up with the {args.fps_budget:g} fps budget: {'yes' if keeps_up else 'no'}")
    # Wall time on a shared machine includes waiting for other processes; CPU time
    # says what the work itself takes of the machine's cores.
    cores = len(os.sched_getaffinity(0))
    share = ours.cpu_seconds / max(1, ours.frames) * args.fps_budget / cores
    print(f"  CPU at the budget: {share:.0%} of the {cores} cores")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
