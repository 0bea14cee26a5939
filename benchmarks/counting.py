"""People counted in street crowds: facewarden beside face_recognition, with false counts.

On the ShanghaiTech Part B photos of ``../shared/data/crowd-dev`` (every head
marked with one point), in one run:

* face_recognition: its faces (``face_locations``, HOG upsampled once; dlib's
  HOG with upsample 1 directly when the package is not installed, which is
  what it runs), each face one person;
* facewarden stills: ``facewarden eval counting``'s count (the fast pipeline's
  faces plus the bodies without a face,
  :func:`facewarden.vision.people.count_people`), with OpenCV's HOG people
  detector (the default) and with NanoDet-m (``--people nanodet``, the
  default here; ``--people hog`` leaves its lines out);
* facewarden cameras: the same with the camera path's face detector
  (:func:`facewarden.service.camera_pipeline.video_pipeline`) and NanoDet-m.

A count is *true* when it stands on an annotated head: a face whose box,
grown by half its size on each side (ShanghaiTech's point is often on the
crown, above a face box), holds a head point not yet taken (the nearest),
or a counted body whose upper half holds one (the region ``count_people``
looks for the body's face in: seen from an elevated camera, a head sits
lower in the pedestrian box than the upper third, down to 34% of its height
on IMG_32); a body cut by the image's bottom edge is the upper part of a
person, whose head may lie anywhere in its box. Every other count is
*false*: not only things taken for people, but also real people whose head
is not annotated (hidden behind a tree or another head, or missed by the
annotators), and a second box on one person. The true count is a head count, not a
face count: people seen from behind count there and can never be faces (see
crowd-dev's README).

``--sparse`` measures sparse scenes instead (the acceptance asks for a mean
absolute error below 4 on held-out street scenes of about 16 people each,
which we do not have). Two proxies, both made by a fixed rule chosen before
any count was made:

* **crowd quarters**: each crowd-dev photo cut into its four quarters
  (512x384); a quarter with 8 to 25 annotated heads is one sparse street
  scene (24 of the 120 quarters, 377 heads, 15.7 each), scaled 2x to Part B's
  own 1024x768 and, apart, left at 512x384. Same cameras, same annotation,
  same true/false scoring as the crowds. Harder than a real sparse scene: the
  people are those of a dense scene's sparse corner (often small, far, or
  cut by the quarter's edge) and a 2x upscale blurs them, which costs the
  face detectors most (face_recognition finds 6% of the heads here);
* **wider-dev groups**: the wider-dev photos with 8 to 25 valid annotated
  faces (25 photos, 380 faces: parades, interviews, couples, family groups,
  dancing). WIDER annotates faces, not people, so the true count is a *lower
  bound* (a person facing away is not annotated): an over-count may be a
  real person, and no false counts are scored there. face_recognition finds
  38% of them, as it did of the held-out street scenes' heads (238 of 623).

``--curve`` prints, for NanoDet-m, the counts of all four sets at every person
probability from 0.30 to 0.80, with and without its head-region rule
(:attr:`facewarden.vision.people_nanodet.NanodetPeopleDetector.head_iou`): the
trade-off between the crowds' false counts and the sparse scenes' error.

Needs scipy to read the ``.mat`` head points (``.venv/bin/pip install scipy``;
benchmarks only)::

    .venv/bin/python benchmarks/counting.py
    .venv/bin/python benchmarks/counting.py --sparse
    .venv/bin/python benchmarks/counting.py --curve
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facewarden import imaging
from facewarden.eval.counting import read_counts
from facewarden.service.camera_pipeline import video_pipeline
from facewarden.types import Box
from facewarden.vision.people import (
    BodyDetector,
    PeopleDetector,
    count_people,
    countable,
    counted_bodies,
    make_people_detector,
)
from facewarden.vision.pipeline import MODES

ROOT = Path(__file__).resolve().parents[1]
CROWD = ROOT.parent / "shared" / "data" / "crowd-dev"
WIDER = ROOT.parent / "shared" / "data" / "wider-dev"
#: Annotated heads of a crowd quarter kept as a sparse scene (the held-out
#: sparse street scenes hold about 16 people each).
SPARSE_HEADS = (8, 25)
#: Valid annotated faces of a wider-dev photo kept as a sparse group.
WIDER_FACES = (8, 25)

Counter = Callable[[np.ndarray], tuple[list[Box], list[Box], int]]


def _heads(path: Path) -> np.ndarray:
    import scipy.io

    info = scipy.io.loadmat(path)["image_info"][0][0][0][0]
    return np.asarray(info["location"], dtype=np.float64).reshape(-1, 2)


def _true_counts(faces: list[Box], bodies: list[Box], heads: np.ndarray, rows: int) -> int:
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
    # The bodies count_people counts (no face in their upper half, not cut by the top edge).
    for body in counted_bodies(faces, bodies):
        # The head is in the upper half; a body cut by the frame's bottom edge is the
        # upper part of a person, whose head may lie anywhere in the box.
        bottom = body.y_max if body.y_max >= rows - 1 else body.y_min + body.height / 2
        hits += take(body.x_min, body.y_min, body.x_max, bottom)
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


# (camera path?, id of the image) -> its sure faces: each photo's faces are found once
# per pipeline, whichever body detector is counted with them.
_FACES: dict[tuple[bool, int], list[Box]] = {}


def _ours(camera: bool, people: BodyDetector) -> Counter:
    def count(image: np.ndarray) -> tuple[list[Box], list[Box], int]:
        key = (camera, id(image))
        if key not in _FACES:
            height, width = image.shape[:2]
            pipeline = video_pipeline(MODES["fast"], width, height) if camera else MODES["fast"]
            _FACES[key] = countable(pipeline.run(image, embed=False))
        faces = _FACES[key]
        bodies = people.detect(image)
        return faces, bodies, count_people(faces, bodies)

    return count


@dataclass(frozen=True)
class Scene:
    """One image to count: its pixels, its true count, its head points if annotated."""

    image: np.ndarray
    true: int
    heads: np.ndarray | None


def _crowds(root: Path, every: int) -> list[Scene]:
    scenes = []
    for name, true in read_counts(root / "counts.csv")[::every]:
        heads = _heads(root / "ground-truth" / f"GT_{Path(name).stem}.mat")
        scenes.append(Scene(imaging.decode(root / name), true, heads))
    return scenes


def _sparse_crops(root: Path, scale: float) -> list[Scene]:
    """The quarters of the crowd images with SPARSE_HEADS annotated heads, scaled by ``scale``.

    Each image is cut into its four quarters (a fixed grid, chosen before any
    count was made); a quarter is kept when its head points number within
    SPARSE_HEADS, whatever any counter finds in it.
    """
    import cv2

    scenes = []
    for name, _ in read_counts(root / "counts.csv"):
        image = imaging.decode(root / name)
        heads = _heads(root / "ground-truth" / f"GT_{Path(name).stem}.mat")
        height, width = image.shape[:2]
        half_w, half_h = width // 2, height // 2
        for top in (0, half_h):
            for left in (0, half_w):
                inside = (
                    (heads[:, 0] >= left)
                    & (heads[:, 0] < left + half_w)
                    & (heads[:, 1] >= top)
                    & (heads[:, 1] < top + half_h)
                )
                if not SPARSE_HEADS[0] <= int(inside.sum()) <= SPARSE_HEADS[1]:
                    continue
                crop = image[top : top + half_h, left : left + half_w]
                if scale != 1.0:
                    size = (round(half_w * scale), round(half_h * scale))
                    crop = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)
                points = (heads[inside] - (left, top)) * scale
                scenes.append(Scene(np.ascontiguousarray(crop), int(inside.sum()), points))
    return scenes


def _wider_groups(root: Path) -> list[Scene]:
    """wider-dev photos with WIDER_FACES valid annotated faces; the count is a lower bound."""
    from facewarden.eval.wider import read_wider_gt

    scenes = []
    for truth in read_wider_gt(root / "wider_face_dev_bbx_gt.txt"):
        faces = int(truth.valid.sum())
        if WIDER_FACES[0] <= faces <= WIDER_FACES[1]:
            scenes.append(Scene(imaging.decode(root / "images" / truth.name), faces, None))
    return scenes


def _measure(title: str, scenes: list[Scene], counters: list[tuple[str, Counter]]) -> None:
    heads = sum(s.true for s in scenes)
    print(f"\n{title}: {len(scenes)} images, {heads} true ({heads / len(scenes):.1f} each)")
    print(
        f"{'counter':48} {'counted':>8} {'true':>6} {'false':>6} {'MAE':>6} {'mean err':>8} "
        f"{'s/image':>8}"
    )
    results = []
    for label, counter in counters:
        counter(scenes[0].image)  # load the models outside the timing
        counted = true_counts = errors = signed = 0
        started = time.perf_counter()
        for scene in scenes:
            faces, bodies, n = counter(scene.image)
            counted += n
            if scene.heads is not None:
                true_counts += _true_counts(faces, bodies, scene.heads, scene.image.shape[0])
            errors += abs(n - scene.true)
            signed += n - scene.true
        seconds = (time.perf_counter() - started) / len(scenes)
        annotated = all(s.heads is not None for s in scenes)
        false = counted - true_counts
        results.append((counted, false))
        hits, misses = (f"{true_counts:6}", f"{false:6}") if annotated else ("     -",) * 2
        print(
            f"{label:48} {counted:8} {hits} {misses} {errors / len(scenes):6.2f} "
            f"{signed / len(scenes):+8.2f} {seconds:8.2f}"
        )
    peer_count, peer_false = results[0]
    for (label, _), (count, false) in zip(counters[1:], results[1:], strict=True):
        versus = f", false counts {false} against its {peer_false}" if annotated else ""
        print(f"{label}: {count / max(1, peer_count):.1f}x face_recognition's count{versus}")


#: The person probabilities ``--curve`` scores.
CURVE = (0.30, 0.32, 0.35, 0.40, 0.45, 0.50, 0.60, 0.70, 0.75, 0.80)


def _curve(sets: dict[str, list[Scene]]) -> None:
    """NanoDet-m's counts per person probability, with and without the head-region rule.

    Each image is detected once per rule at the lowest probability; a higher
    one keeps the boxes that reach it. That is what a detector set to it
    returns: both suppressions are greedy from the strongest box, so a box
    under the bar never drops one above it.
    """
    from facewarden.vision.people_nanodet import NanodetPeopleDetector

    rules = {"NanoDet-m": None, "NanoDet-m + head rule": 0.0}
    found = {}
    for label, head_iou in rules.items():
        detector = NanodetPeopleDetector(min_score=CURVE[0], head_iou=head_iou)
        found[label] = {
            name: [detector.detect_scored(scene.image) for scene in scenes]
            for name, scenes in sets.items()
        }
    faces = {
        name: [_ours(False, PeopleDetector())(scene.image)[0] for scene in scenes]
        for name, scenes in sets.items()
    }
    print(
        "\nNanoDet-m per person probability: crowds counted / false, then each set's MAE (mean err)"
    )
    print(f"{'rule':22} {'prob':>5} {'crowds':>11} " + " ".join(f"{n:>16}" for n in list(sets)[1:]))
    for label in rules:
        for bar in CURVE:
            cells = []
            for name, scenes in sets.items():
                counted = false = errors = signed = 0
                for scene, boxes, sure in zip(scenes, found[label][name], faces[name], strict=True):
                    bodies = [box for box, score in boxes if score >= bar]
                    n = count_people(sure, bodies)
                    counted += n
                    errors += abs(n - scene.true)
                    signed += n - scene.true
                    if scene.heads is not None:
                        false += n - _true_counts(sure, bodies, scene.heads, scene.image.shape[0])
                if name == "crowds":
                    cells.append(f"{counted:5} / {false:3}")
                else:
                    mean = signed / len(scenes)
                    cells.append(f"{errors / len(scenes):6.2f} ({mean:+6.2f})")
            print(
                f"{label:22} {bar:5.2f} "
                + " ".join(f"{c:>11}" if i == 0 else f"{c:>16}" for i, c in enumerate(cells))
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=CROWD)
    parser.add_argument("--every", type=int, default=1, help="use every n-th image")
    parser.add_argument(
        "--sparse",
        action="store_true",
        help="measure the sparse-scene proxies (crowd quarters, wider-dev groups) instead",
    )
    parser.add_argument("--wider", type=Path, default=WIDER)
    parser.add_argument(
        "--people",
        choices=("nanodet", "hog"),
        default="nanodet",
        help="nanodet: HOG's stills line, then NanoDet-m's stills and camera lines (its files "
        "fetched by scripts/fetch_people_model.py); hog: HOG's lines only",
    )
    parser.add_argument(
        "--curve",
        action="store_true",
        help="NanoDet-m's counts on the crowds and the sparse proxies per person probability, "
        "with and without its head-region rule",
    )
    args = parser.parse_args()
    if args.curve:
        low, high = SPARSE_HEADS
        _curve(
            {
                "crowds": _crowds(args.root, args.every),
                f"quarters 2x ({low}-{high})": _sparse_crops(args.root, 2.0),
                "quarters 1x": _sparse_crops(args.root, 1.0),
                "wider-dev groups": _wider_groups(args.wider),
            }
        )
        return
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    peer_label, peer = _face_recognition()
    hog = PeopleDetector()
    counters = [
        (peer_label, peer),
        ("facewarden stills (fast + HOG bodies)", _ours(False, hog)),
    ]
    if args.people != "hog":
        nanodet = make_people_detector("nanodet")
        counters += [
            (f"facewarden stills (fast + {nanodet.name} bodies)", _ours(False, nanodet)),
            (f"facewarden cameras (video path + {nanodet.name})", _ours(True, nanodet)),
        ]
    else:
        counters.append(("facewarden cameras (video path + HOG bodies)", _ours(True, hog)))
    if not args.sparse:
        _measure(f"street crowds of {args.root}", _crowds(args.root, args.every), counters)
    else:
        low, high = SPARSE_HEADS
        for scale in (2.0, 1.0):
            crops = _sparse_crops(args.root, scale)
            size = f"{round(crops[0].image.shape[1])}x{round(crops[0].image.shape[0])}"
            _measure(f"sparse: crowd quarters with {low}-{high} heads, at {size}", crops, counters)
        if args.wider.exists():
            low, high = WIDER_FACES
            groups = _wider_groups(args.wider)
            _measure(
                f"sparse: wider-dev photos with {low}-{high} valid faces (true = faces, a lower "
                "bound of the people)",
                groups,
                counters,
            )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
