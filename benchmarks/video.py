"""Camera video: facewarden's frame processor against a naive face_recognition loop.

Two videos (720p and 1080p, 25 fps, ``--seconds`` long) are made from real
photos of ../shared/data/faces: four face tiles (two of them of enrolled
people, from other photos than the enrolled ones) walk across a textured
backdrop. On each, in one run:

* ``decode``: OpenCV decoding every frame, nothing else (the floor);
* ``facewarden all``: the frame processor on every frame (detect + embed,
  track, identify per track, sightings, crowd counters);
* ``facewarden budget``: the same at ``--fps-budget`` frames per second of
  video time (the default of ``facewarden watch``), as a camera runs;
* ``face_recognition``: ``face_locations`` + ``face_encodings`` on every
  frame (its README's way, HOG upsampled once), timed on ``--naive-frames``
  frames spread over the video (it is slow), extrapolated to every frame.

For each: frames/s processed, faces/s, and the lag behind real time at
25 fps: how far behind the camera the last frame's result comes when the
video is played live (``max(0, processing time - video time)``, projected to
the whole video). The budget run also reports the sightings (expected: one
per enrolled person) and the unique-visitor estimate (expected: 4).

Run (face_recognition with ``--no-deps``: its ``dlib`` requirement would
compile dlib, while facewarden's ``dlib-bin`` wheel already provides it)::

    .venv/bin/pip install --no-deps face_recognition
    .venv/bin/python benchmarks/video.py                 # 720p and 1080p, 10 s each
    .venv/bin/python benchmarks/video.py --seconds 4 --naive-frames 10
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KNN = ROOT.parent / "shared" / "data" / "faces" / "face_recognition" / "examples" / "knn_examples"
FPS = 25.0
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _scene(width: int, height: int, seconds: float) -> list[object]:
    from tests.cameras._video import Walk, face_crop

    tile = max(120, height // 5)
    photos = [
        ("obama", KNN / "train" / "obama" / "obama2.jpg"),
        ("biden", KNN / "train" / "biden" / "biden2.jpg"),
        ("kit", KNN / "train" / "kit_harington" / "john2.jpeg"),
        ("rose", KNN / "train" / "rose_leslie" / "img2.jpg"),
    ]
    walks: list[object] = []
    for index, (name, photo) in enumerate(photos):
        y = int(height * (0.08 + 0.22 * index))
        start = seconds * 0.05 * index
        origin = (20, y) if index % 2 == 0 else (width - tile - 20, y)
        target = (width - tile - 20, y) if index % 2 == 0 else (20, y)
        walks.append(Walk(name, face_crop(photo, tile), start, seconds * 0.95, origin, target))
    return walks


def _video(folder: Path, width: int, height: int, seconds: float) -> Path:
    from tests.cameras._video import write_video

    walks = _scene(width, height, seconds)
    return write_video(
        folder / f"scene_{height}p.mp4",
        walks,  # type: ignore[arg-type]
        seconds=seconds,
        fps=FPS,
        size=(width, height),
    )


def _decode(path: Path) -> tuple[int, float]:
    capture = cv2.VideoCapture(str(path))
    started, frames = time.perf_counter(), 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    return frames, time.perf_counter() - started


def _facewarden(path: Path, folder: Path, budget: float) -> dict[str, float]:
    from facewarden.config import Settings
    from facewarden.privacy import ManualClock
    from facewarden.service import SubjectRecord, Warden
    from facewarden.service.ingest import watch
    from facewarden.vision.people import PeopleDetector
    from facewarden.vision.sources import FileSource

    data = folder / f"deploy-{path.stem}-{budget:g}"
    settings = Settings(data_dir=data / "data", key_dir=data / "keys", mode="fast", workers=1)
    with Warden.open(settings, clock=ManualClock(T0), create=True) as warden:
        warden.watchlists.create("gate", purpose="benchmark", lawful_basis="test")
        for name, photo in (("Obama", "obama/obama.jpg"), ("Biden", "biden/biden.jpg")):
            record = SubjectRecord(full_name=name, lawful_basis="test")
            warden.registry.enroll(record, [KNN / "train" / photo], watchlists=["gate"])
        warden.warm_up()
        warden.cameras.add("cam", location="benchmark", watchlists=["gate"])
        source = FileSource(path, fps_budget=budget)
        started = time.perf_counter()
        summary = watch(warden, "cam", source, start=T0, people=PeopleDetector())
        elapsed = time.perf_counter() - started
    return {
        "frames": summary.frames,
        "faces": summary.faces,
        "seconds": elapsed,
        "sightings": len(summary.sightings),
        "visitors": summary.visitors,
    }


def _naive(path: Path, limit: int) -> dict[str, float]:
    """face_recognition on ``limit`` frames spread evenly over the video (timed: decode + it)."""
    import face_recognition

    capture = cv2.VideoCapture(str(path))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    step = max(1, total // limit)
    frames, faces, spent = 0, 0, 0.0
    for index in range(total):
        if not capture.grab():
            break
        if index % step or frames >= limit:
            continue
        started = time.perf_counter()
        bgr = capture.retrieve()[1]
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        boxes = face_recognition.face_locations(rgb)
        faces += len(face_recognition.face_encodings(rgb, boxes))
        spent += time.perf_counter() - started
        frames += 1
    capture.release()
    return {"frames": frames, "faces": faces, "seconds": spent}


def _line(label: str, frames: float, faces: float, seconds: float, video_s: float) -> str:
    fps = frames / seconds
    covered = (
        frames / FPS if label.startswith(("decode", "face_rec", "facewarden all")) else video_s
    )
    lag = max(0.0, seconds / covered * video_s - video_s)
    return (
        f"  {label:24} {fps:7.1f} frames/s  {faces / seconds:7.1f} faces/s  "
        f"lag behind 25 fps after {video_s:.0f} s: {lag:6.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps-budget", type=float, default=5.0)
    parser.add_argument("--naive-frames", type=int, default=25)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # the synthetic-scene helpers of the tests
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for width, height in ((1280, 720), (1920, 1080)):
            path = _video(folder, width, height, args.seconds)
            print(f"\n{height}p, {args.seconds:g} s at 25 fps, 4 people (2 enrolled):")
            frames, seconds = _decode(path)
            print(_line("decode only", frames, 0, seconds, args.seconds))
            every = _facewarden(path, folder, FPS)
            print(
                _line(
                    "facewarden all",
                    every["frames"],
                    every["faces"],
                    every["seconds"],
                    args.seconds,
                )
            )
            budget = _facewarden(path, folder, args.fps_budget)
            label = f"facewarden {args.fps_budget:g} fps budget"
            print(_line(label, budget["frames"], budget["faces"], budget["seconds"], args.seconds))
            print(
                f"  {'':24} sightings {budget['sightings']:.0f} (expected 2), unique visitors "
                f"{budget['visitors']:.0f} (expected 4); every-frame run: sightings "
                f"{every['sightings']:.0f}, visitors {every['visitors']:.0f}"
            )
            naive = _naive(path, args.naive_frames)
            label = f"face_recognition ({naive['frames']:.0f} fr)"
            print(_line(label, naive["frames"], naive["faces"], naive["seconds"], args.seconds))
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
