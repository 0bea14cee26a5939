"""A 1080p camera at CCTV distances: facewarden's frame processor against face_recognition.

The scene (``--seconds`` of 1080p at 25 fps, ``benchmarks/_street.py``) is
made from real photos of ../shared/data: twelve people walk across a
textured street at walking speeds (1.1 to 1.6 m/s: a face moves 1.6 to 1.7
of its widths between two frames at a 5 fps budget), their faces 24 to 96 px
wide, drawn to scale from the photos, so a small face is a real face seen
from further away, not a sharp thumbnail. They enter and leave through the
frame's edges, cross each other going opposite ways (the nearer hides the
other), come towards the camera or walk away (faces growing and shrinking),
and pass behind a pillar and a hanging sign (hidden 0.2 to 1 s). Three are
enrolled, from other photos than the ones walking, at 56 and 96 px: a face
below 40 px is found, tracked and counted but too small to identify (its
quality verdict says so), so a sighting needs the person closer. The frame
budget is ``--fps-budget`` frames per second of video time (5, ``facewarden
watch``'s default), as a camera runs. On the frames that budget keeps, in
one run:

* ``facewarden``: the frame processor as ``facewarden watch`` runs it
  (small-face detector on the whole frame at least every 0.6 s of video,
  ``--keyframe-interval``, and, between, where the faces went and along the
  side edges; embeddings of the faces their tracks need, tracking,
  identification per track, sightings, the body detector every 5th frame
  (``--people hog``, this benchmark's default, so its figures compare with the
  earlier runs; ``nanodet``, the product's default where its files are; or
  ``none``), crowd counters), timed;
* ``face_recognition``: ``face_locations`` (HOG upsampled once, its README's
  way) on ``--naive-frames`` of those frames spread over the video (it is
  slow), timed and extrapolated.

Reported for each: faces found per face size (the share of the faces at
least 60% visible in the processed frames that a detection covers, IoU >=
0.3), false faces (detections on no face), seconds per frame (mean, median
and CPU seconds: the wall time of a shared machine includes waiting for
other processes), frames per second, and the lag behind real time: how far
behind the camera the last frame's result comes when the frames arrive live
at the budget (``max(0, processing time - video time)``). facewarden's line
also gives the sightings (expected: one per enrolled walker) and how its
tracks follow the people, per face size (a person's smallest face):

* tracks per person: distinct tracks that covered the person in some frame,
  among those the crowd counters count (two detections or more); 1.0 is one
  person, one track; more inflates the unique visitors and cuts dwell times;
* identity switches: tracks that covered two people or more (a track that
  jumped from one walker to another);
* dwell recovered: the duration of the person's longest track over their
  true time on screen (first to last processed frame with the face at least
  60% visible, brief occlusions included); 1.0 is the whole visit;
* unique visitors the crowd counters counted, against the true number.

face_recognition has no tracker: its line has none of these.

Run (face_recognition with ``--no-deps``: its ``dlib`` requirement would
compile dlib, while facewarden's ``dlib-bin`` wheel already provides it; without
it the same HOG call is made through dlib directly)::

    .venv/bin/pip install --no-deps face_recognition
    .venv/bin/python benchmarks/video.py                 # 20 s of 1080p
    .venv/bin/python benchmarks/video.py --seconds 8 --naive-frames 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the synthetic-scene helpers of the tests
sys.path.insert(0, str(ROOT / "benchmarks"))

from _street import FPS, SIZE, Scene, TrueFace, street  # noqa: E402

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
# A face at least this visible is one a detector should find; less is occluded.
VISIBLE = 0.6
_Xyxy = tuple[float, float, float, float]


def _iou(a: _Xyxy, b: _Xyxy) -> float:
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _assign(truth: list[TrueFace], boxes: list[_Xyxy]) -> dict[int, TrueFace]:
    """Each box's face (IoU >= 0.3, best pairs first, each face at most once)."""
    pairs = sorted(
        (
            (-_iou(face.box, box), b, f)
            for b, box in enumerate(boxes)
            for f, face in enumerate(truth)
            if face.visible > 0
        ),
    )
    out: dict[int, TrueFace] = {}
    used: set[int] = set()
    for negative, b, f in pairs:
        if -negative >= 0.3 and b not in out and f not in used:
            out[b] = truth[f]
            used.add(f)
    return out


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

    def add(self, truth: list[TrueFace], boxes: list[_Xyxy]) -> None:
        self.frames += 1
        matched = _assign(truth, boxes)
        for face in truth:
            if face.visible >= VISIBLE:
                self.seen[face.label] = self.seen.get(face.label, 0) + 1
        for face in matched.values():
            if face.visible >= VISIBLE:
                self.found[face.label] = self.found.get(face.label, 0) + 1
        self.false += len(boxes) - len(matched)

    def by_size(self) -> str:
        return "  ".join(
            f"{size} px {self.found.get(size, 0) / max(1, n):.2f}"
            for size, n in sorted(self.seen.items())
        )


@dataclass
class Tracking:
    """How the tracks followed the people: per person, per track."""

    # per track: its hits, first and last seen, and the people it covered (frames each)
    hits: dict[int, int] = field(default_factory=dict)
    span: dict[int, tuple[float, float]] = field(default_factory=dict)
    people: dict[int, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    # per person: first and last time at least VISIBLE on screen (processed frames)
    on_screen: dict[int, tuple[float, float]] = field(default_factory=dict)
    visitors: int = 0

    def add(self, t: float, truth: list[TrueFace], tracks: list[tuple[int, _Xyxy]]) -> None:
        for face in truth:
            if face.visible >= VISIBLE:
                first, _ = self.on_screen.get(face.person, (t, t))
                self.on_screen[face.person] = (first, t)
        matched = _assign(truth, [box for _, box in tracks])
        for b, face in matched.items():
            self.people[tracks[b][0]][face.person] += 1

    def report(self, labels: dict[int, int]) -> list[str]:
        """Lines per size class: tracks per person, switches, dwell recovered."""
        per_person: dict[int, set[int]] = defaultdict(set)
        longest: dict[int, float] = defaultdict(float)
        switches: Counter[int] = Counter()
        for track, covered in self.people.items():
            for person in covered:
                per_person[person].add(track)
                first, last = self.span[track]
                longest[person] = max(longest[person], last - first)
            if len(covered) > 1:
                switches[labels[covered.most_common(1)[0][0]]] += 1
        rows = []
        for label in sorted(set(labels.values())):
            people = [p for p, lab in labels.items() if lab == label and p in self.on_screen]
            tracks = [len(per_person[p]) for p in people]
            counted = [sum(self.hits[t] >= 2 for t in per_person[p]) for p in people]
            dwell = [
                longest[p] / (self.on_screen[p][1] - self.on_screen[p][0])
                for p in people
                if self.on_screen[p][1] > self.on_screen[p][0]
            ]
            rows.append(
                f"{label:3d} px ({len(people)} people): tracks/person "
                f"{statistics.mean(tracks) if tracks else 0:4.2f} "
                f"(counted {statistics.mean(counted) if counted else 0:4.2f})  "
                f"switches {switches[label]}  dwell recovered "
                f"{statistics.mean(dwell) if dwell else 0:.2f}"
            )
        return rows

    def details(self, names: list[str]) -> list[str]:
        """Per person: each track that covered them (id, hits, first-last seen, frames)."""
        rows = []
        for person, name in enumerate(names):
            if person not in self.on_screen:
                continue
            first, last = self.on_screen[person]
            spans = [
                f"#{t} {self.hits[t]}h {self.span[t][0]:.1f}-{self.span[t][1]:.1f}"
                + (f" ({covered[person]} of {sum(covered.values())})" if len(covered) > 1 else "")
                for t, covered in sorted(self.people.items())
                if person in covered
            ]
            rows.append(f"{name:8} on screen {first:4.1f}-{last:4.1f} s: " + ", ".join(spans))
        return rows


def _times(seconds: float, budget: float) -> list[float]:
    step = max(1, round(FPS / budget))
    return [index / FPS for index in range(0, round(seconds * FPS), step)]


class _Recording:
    """A detector that keeps the boxes of every frame it saw."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "recorded")
        self.boxes: list[list[_Xyxy]] = []

    def reset(self) -> None:  # the frame processor's first frame is searched whole
        self.inner.reset()  # type: ignore[attr-defined]

    def expect(self, faces: list[tuple[_Xyxy, float]]) -> None:  # where tracks lost faces
        self.inner.expect(faces)  # type: ignore[attr-defined]

    def frame_time(self, when: float) -> None:  # keyframes are due by video time
        self.inner.frame_time(when)  # type: ignore[attr-defined]

    def detect(self, image: np.ndarray) -> list:  # type: ignore[type-arg]
        faces = self.inner.detect(image)  # type: ignore[attr-defined]
        self.boxes.append([f.box.as_tuple() for f in faces])
        return faces  # type: ignore[no-any-return]


class _TimedBodies:
    """A body detector whose calls are timed (the camera path runs it every 5th frame)."""

    def __init__(self, detector: Any) -> None:
        self.detector = detector
        self.name = str(detector.name)
        self.seconds: list[float] = []

    def detect(self, image: np.ndarray) -> list[Any]:
        started = time.perf_counter()
        found = self.detector.detect(image)
        self.seconds.append(time.perf_counter() - started)
        return list(found)


def _facewarden(
    scene: Scene,
    times: list[float],
    folder: Path,
    people: str | None,
    keyframe_interval: float,
) -> tuple[Counts, Tracking, int, _TimedBodies | None]:
    import dataclasses

    from facewarden.config import Settings
    from facewarden.privacy import ManualClock
    from facewarden.service import SubjectRecord, Warden
    from facewarden.service.camera_pipeline import video_pipeline
    from facewarden.service.frames import FrameProcessor
    from facewarden.vision.people import make_people_detector

    settings = Settings(data_dir=folder / "data", key_dir=folder / "keys", mode="fast", workers=1)
    counts, tracking = Counts(), Tracking()
    with Warden.open(settings, clock=ManualClock(T0), create=True) as warden:
        warden.watchlists.create("gate", purpose="benchmark", lawful_basis="test")
        for walker in scene.walkers:
            if walker.enrolled is not None:
                record = SubjectRecord(full_name=walker.name, lawful_basis="test")
                warden.registry.enroll(record, [walker.enrolled], watchlists=["gate"])
        warden.warm_up()
        warden.cameras.add("cam", location="benchmark", watchlists=["gate"])
        pipeline = video_pipeline(warden.pipeline, *SIZE, keyframe_interval=keyframe_interval)
        recording = _Recording(pipeline.detector)
        pipeline = dataclasses.replace(pipeline, detector=recording)  # type: ignore[arg-type]
        bodies = _TimedBodies(make_people_detector(people)) if people else None
        processor = FrameProcessor(warden, "cam", pipeline=pipeline, people=bodies)
        processor.process(scene.frame(times[0]), T0 - timedelta(seconds=60))  # load the models
        recording.boxes.clear()
        if bodies is not None:
            bodies.seconds.clear()
        processor = FrameProcessor(warden, "cam", pipeline=pipeline, people=bodies)
        sightings = 0
        for t in times:
            frame = scene.frame(t)  # rendered outside the timing: a decoder's work
            begun, cpu = time.perf_counter(), time.process_time()
            sightings += len(processor.process(frame, T0 + timedelta(seconds=t)).new_sightings)
            counts.per_frame.append(time.perf_counter() - begun)
            counts.seconds += counts.per_frame[-1]
            counts.cpu_seconds += time.process_time() - cpu
            detected = []
            for track in processor.tracker.tracks:
                if track.missed == 0:
                    tracking.hits[track.track_id] = track.hits
                    tracking.span[track.track_id] = (track.first_seen, track.last_seen)
                    detected.append((track.track_id, track.box.as_tuple()))
            tracking.add(t, scene.truth(t), detected)
        processor.finish(T0 + timedelta(seconds=times[-1] + 1))
        tracking.visitors = processor.crowd.visitors
    for t, boxes in zip(times, recording.boxes, strict=True):
        counts.add(scene.truth(t), boxes)
    return counts, tracking, sightings, bodies


def _face_recognition() -> tuple[str, Callable[[np.ndarray], list[_Xyxy]]]:
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


def _naive(scene: Scene, times: list[float], limit: int) -> Counts:
    label, locate = _face_recognition()
    counts = Counts()
    picked = times[:: max(1, len(times) // limit)][:limit]
    for t in picked:
        frame = scene.frame(t)
        started, cpu = time.perf_counter(), time.process_time()
        boxes = locate(frame)
        counts.per_frame.append(time.perf_counter() - started)
        counts.seconds += counts.per_frame[-1]
        counts.cpu_seconds += time.process_time() - cpu
        counts.add(scene.truth(t), boxes)
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
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fps-budget", type=float, default=5.0)
    parser.add_argument("--naive-frames", type=int, default=8, help="0: facewarden only")
    parser.add_argument(
        "--keyframe-interval",
        type=float,
        default=0.6,
        help="seconds of video between whole-frame searches at most (0.6: the default)",
    )
    parser.add_argument("--details", action="store_true", help="print every person's tracks")
    parser.add_argument(
        "--people",
        choices=("hog", "nanodet", "none"),
        default="hog",
        help="the body detector run every 5th frame, as facewarden watch does (hog: this "
        "benchmark's default; nanodet: NanoDet-m, the product's default where its files are; "
        "none: no bodies)",
    )
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    walkers = street(args.seconds)
    scene = Scene.build(walkers)
    times = _times(args.seconds, args.fps_budget)
    enrolled = sum(1 for w in walkers if w.enrolled is not None)
    print(
        f"\n1080p street, {args.seconds:g} s at 25 fps, {len(walkers)} people walking "
        f"(faces 24 to 96 px, {enrolled} enrolled), {len(times)} frames at a "
        f"{args.fps_budget:g} fps budget (a keyframe at least every "
        f"{args.keyframe_interval:g} s):"
    )
    with tempfile.TemporaryDirectory() as tmp:
        people = None if args.people == "none" else args.people
        ours, tracking, sightings, bodies = _facewarden(
            scene, times, Path(tmp), people, args.keyframe_interval
        )
    print(_line("facewarden", ours, len(times), args.seconds))
    if bodies is not None and bodies.seconds:
        per_call = statistics.median(bodies.seconds)
        print(
            f"  {'':22} people detector {bodies.name}: {len(bodies.seconds)} runs, median "
            f"{per_call:.3f} s a run, {sum(bodies.seconds) / max(1, ours.frames):.3f} s per "
            "processed frame"
        )
    print(f"  {'':22} sightings {sightings} (expected {enrolled})")
    labels = {index: walker.label for index, walker in enumerate(walkers)}
    for row in tracking.report(labels):
        print(f"  {'':22} {row}")
    if args.details:
        for row in tracking.details([w.name for w in walkers]):
            print(f"  {'':22} {row}")
    print(f"  {'':22} unique visitors counted {tracking.visitors} (true {len(tracking.on_screen)})")
    if args.naive_frames <= 0:
        return
    naive = _naive(scene, times, args.naive_frames)
    print(_line("face_recognition", naive, len(times), args.seconds))
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
