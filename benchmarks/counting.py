"""People counted in street crowds: facewarden beside face_recognition, with false counts.

On the ShanghaiTech Part B photos of ``../shared/data/crowd-dev`` (every head
marked with one point), in one run:

* face_recognition: its faces (``face_locations``, HOG upsampled once; dlib's
  HOG with upsample 1 directly when the package is not installed, which is
  what it runs), each face one person;
* facewarden stills: ``facewarden eval counting``'s count (the fast pipeline's
  faces plus OpenCV's people detector's bodies without a face,
  :func:`facewarden.vision.people.count_people`);
* facewarden cameras: the same with the camera path's detector
  (:func:`facewarden.service.frames.video_pipeline`).

A count is *true* when it stands on an annotated head: a face whose box,
grown by half its size on each side (ShanghaiTech's point is often on the
crown, above a face box), holds a head point not yet taken (the nearest),
or a body whose upper third holds one. Every other count is *false*. The true count is
a head count, not a face count: people seen from behind count there and can
never be faces (see crowd-dev's README).

Needs scipy to read the ``.mat`` head points (``.venv/bin/pip install scipy``;
benchmarks only)::

    .venv/bin/python benchmarks/counting.py
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facewarden import imaging
from facewarden.eval.counting import read_counts
from facewarden.service.frames import video_pipeline
from facewarden.types import Box
from facewarden.vision.people import PeopleDetector, count_people, countable
from facewarden.vision.pipeline import MODES

ROOT = Path(__file__).resolve().parents[1]
CROWD = ROOT.parent / "shared" / "data" / "crowd-dev"

Counter = Callable[[np.ndarray], tuple[list[Box], list[Box], int]]


def _heads(path: Path) -> np.ndarray:
    import scipy.io

    info = scipy.io.loadmat(path)["image_info"][0][0][0][0]
    return np.asarray(info["location"], dtype=np.float64).reshape(-1, 2)


def _true_counts(faces: list[Box], bodies: list[Box], heads: np.ndarray) -> int:
    taken = np.zeros(len(heads), dtype=bool)

    def take(x1: float, y1: float, x2: float, y2: float) -> bool:
        inside = (
            ~taken
            & (heads[:, 0] >= x1)
            & (heads[:, 0] <= x2)
            & (heads[:, 1] >= y1)
            & (heads[:, 1] <= y2)
        )
        if not inside.any():
            return False
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        candidates = np.flatnonzero(inside)
        nearest = candidates[
            np.argmin(np.hypot(heads[candidates, 0] - cx, heads[candidates, 1] - cy))
        ]
        taken[nearest] = True
        return True

    hits = 0
    for box in faces:
        pad_x, pad_y = box.width / 2, box.height / 2
        hits += take(box.x_min - pad_x, box.y_min - pad_y, box.x_max + pad_x, box.y_max + pad_y)
    unmatched = list(faces)
    for body in bodies:  # count_people's rule: a face in a body's upper half is that person
        top_half = body.y_min + body.height / 2
        inside = [
            f
            for f in unmatched
            if body.x_min <= f.center[0] <= body.x_max and body.y_min <= f.center[1] <= top_half
        ]
        if inside:
            unmatched.remove(inside[0])
        else:
            hits += take(body.x_min, body.y_min, body.x_max, body.y_min + body.height / 3)
    return hits


def _face_recognition() -> tuple[str, Counter]:
    try:
        import face_recognition
    except ImportError:
        from facewarden.vision.detect import HogDetector

        hog = HogDetector(upsample=1)

        def dlib_hog(image: np.ndarray) -> tuple[list[Box], list[Box], int]:
            boxes = [f.box for f in hog.detect(image)]
            return boxes, [], len(boxes)

        return "face_recognition's detector (dlib HOG, upsample 1)", dlib_hog

    def theirs(image: np.ndarray) -> tuple[list[Box], list[Box], int]:
        found = face_recognition.face_locations(image)
        boxes = [Box(left, top, right, bottom) for top, right, bottom, left in found]
        return boxes, [], len(boxes)

    return "face_recognition.face_locations", theirs


def _ours(camera: bool) -> Counter:
    people = PeopleDetector()

    def count(image: np.ndarray) -> tuple[list[Box], list[Box], int]:
        height, width = image.shape[:2]
        pipeline = video_pipeline(MODES["fast"], width, height) if camera else MODES["fast"]
        faces = countable(pipeline.run(image, embed=False))
        bodies = people.detect(image)
        return faces, bodies, count_people(faces, bodies)

    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=CROWD)
    parser.add_argument("--every", type=int, default=1, help="use every n-th image")
    args = parser.parse_args()
    rows = read_counts(args.root / "counts.csv")[:: args.every]
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    print(f"{len(rows)} images of {args.root}, {sum(c for _, c in rows)} annotated heads\n")
    peer_label, peer = _face_recognition()
    counters = [
        (peer_label, peer),
        ("facewarden stills (fast + bodies)", _ours(camera=False)),
        ("facewarden cameras (video path + bodies)", _ours(camera=True)),
    ]
    images = []
    for name, true in rows:
        image = imaging.decode(args.root / name)
        heads = _heads(args.root / "ground-truth" / f"GT_{Path(name).stem}.mat")
        images.append((image, true, heads))
    print(f"{'counter':48} {'counted':>8} {'true':>6} {'false':>6} {'MAE':>7} {'s/image':>8}")
    results = []
    for label, counter in counters:
        counter(images[0][0])  # load the models outside the timing
        counted = true_counts = errors = 0
        started = time.perf_counter()
        for image, true, heads in images:
            faces, bodies, n = counter(image)
            counted += n
            hits = _true_counts(faces, bodies, heads)
            true_counts += hits
            errors += abs(n - true)
        seconds = (time.perf_counter() - started) / len(images)
        false = counted - true_counts
        results.append((counted, false))
        print(
            f"{label:48} {counted:8} {true_counts:6} {false:6} {errors / len(images):7.1f} "
            f"{seconds:8.2f}"
        )
    peer_count, peer_false = results[0]
    for (label, _), (count, false) in zip(counters[1:], results[1:], strict=True):
        print(
            f"{label}: {count / max(1, peer_count):.1f}x face_recognition's count, "
            f"false counts {false} against its {peer_false}"
        )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
