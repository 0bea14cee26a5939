"""Detection and verification on degraded real photos, against face_recognition, in one run.

Photos arrive turned (EXIF dropped, a phone held sideways, an ID card scanned
upside down), over-compressed, blurred, dim, grey, small or partly covered.
Each condition of ``benchmarks/_degrade.py`` (seeded: the same pixels every
run, the same pixels for every system) is applied to

* the first photo of LFW fold-1 pairs (``../shared/data/lfw-fold1``; the
  first ``--pairs`` same-person and different-person pairs of ``pairs.txt``),
  compared with the second photo, upright and untouched, as it was enrolled;
* dlib's nine annotated group photos (``../shared/data/faces/dlib/examples/
  faces``, 43 boxes; the boxes follow the photo's turn).

Printed per condition and system: the LFW probes whose face was found where
it is (a box over the face's centre), the annotated group faces found (IoU
0.3, one to one) and the detections matching none, the same-person pairs
verified, the probes refused by the quality gate (facewarden says why and
does not compare them), the different-person pairs let in, and the median
CPU milliseconds per LFW probe; then facewarden's figures over the peer's.

Systems, on the same pixels:

* ``fw fast``: ``Pipeline.from_mode("fast")``, what ``/v1/identify``, the
  cameras and CompreFace's ``recognize`` run (``Pipeline()``'s detector too),
  its probe compared with the enrolled (``accurate``) template at the
  stricter of the two similarities for FMR 1e-3, as identification does;
* ``fw accurate``: ``Pipeline.from_mode("accurate")``, what enrollment,
  ``/v1/verify`` and ``compare`` run, at its FMR 1e-3 similarity;
* ``face_recognition``: its README's defaults (HOG with one upsampling, one
  embedding of the central face), at the same operating point as ours
  (cosine similarity of its normalised embeddings 0.9250: dlib's ResNet with
  one view at FMR 1e-3 on these images, ``match/thresholds.py``) and, for
  reference, at its own ``compare_faces`` tolerance of 0.6 (a much looser
  point: it lets in strangers ours refuses).

Run (about 5 minutes on two shared cores for the default 30 + 30 pairs)::

    .venv/bin/python benchmarks/robustness.py
    .venv/bin/python benchmarks/robustness.py --pairs 150 --conditions "turned 90,low light"
    .venv/bin/python benchmarks/robustness.py --list

face_recognition is not a dependency: ``.venv/bin/pip install --no-deps face_recognition``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from _degrade import Band, Condition, PointMap, conditions
from _group_photos import GROUP, group_annotations, hits
from facewarden import imaging
from facewarden.match.thresholds import threshold_for
from facewarden.service.watchlists import comparison_threshold
from facewarden.vision.pipeline import Pipeline, central_face

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FOLD = SHARED / "lfw-fold1"
#: LFW's photos are cut around the face found by Viola-Jones: the face sits at the
#: centre. The median central MTCNN box of 41 fold photos, for the covering band.
LFW_FACE: Band = (77.0, 63.0, 173.0, 188.0)
PEER_COSINE_AT_FMR_1E3 = 0.9250

RGBImage = npt.NDArray[np.uint8]
Vector = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Probe:
    """What a system made of one photo: faces' boxes, and its central face's verdict."""

    boxes: list[Band]
    central: Band | None
    usable: bool
    embedding: Vector | None
    cpu_ms: float


Judge = Callable[[Vector, Vector], bool]


class System:
    """One verifier: the faces of a photo, and its operating points (name -> do two match?)."""

    name: str
    judges: dict[str, Judge]

    def probe(self, image: RGBImage, *, embed: bool) -> Probe:
        raise NotImplementedError


class Facewarden(System):
    def __init__(self, name: str, pipeline: Pipeline, threshold: float) -> None:
        self.name = name
        self.pipeline = pipeline
        self.threshold = threshold
        self.judges = {name: lambda a, b: float(a @ b) >= threshold}

    def probe(self, image: RGBImage, *, embed: bool) -> Probe:
        started = time.process_time()
        faces = self.pipeline.run(image, embed=embed)
        face = central_face(faces, image.shape)
        cpu_ms = (time.process_time() - started) * 1000
        return Probe(
            [f.box.as_tuple() for f in faces],
            None if face is None else face.box.as_tuple(),
            face is not None and face.usable,
            None if face is None or not embed else face.require_embedding().astype(np.float64),
            cpu_ms,
        )


class FaceRecognition(System):
    def __init__(self) -> None:
        import face_recognition  # loads its models

        self.name = "face_recognition"
        self.api = face_recognition
        self.judges = {
            self.name: lambda a, b: _cosine(a, b) >= PEER_COSINE_AT_FMR_1E3,
            f"{self.name}@0.6": lambda a, b: float(np.linalg.norm(a - b)) <= 0.6,
        }

    def probe(self, image: RGBImage, *, embed: bool) -> Probe:
        started = time.process_time()
        locations = self.api.face_locations(image)  # HOG, upsample 1: its default
        # css (top, right, bottom, left), right and bottom inclusive, to xyxy.
        boxes = [
            (float(lf), float(tp), float(rt + 1), float(bt + 1)) for tp, rt, bt, lf in locations
        ]
        central = _central(boxes, image.shape)
        embedding = None
        if central is not None and embed:
            x1, y1, x2, y2 = central
            css = (round(y1), round(x2) - 1, round(y2) - 1, round(x1))
            raw = np.asarray(self.api.face_encodings(image, [css])[0], dtype=np.float64)
            embedding = raw
        cpu_ms = (time.process_time() - started) * 1000
        return Probe(boxes, central, central is not None, embedding, cpu_ms)


def _cosine(a: Vector, b: Vector) -> float:
    return float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b))


def _central(boxes: list[Band], shape: tuple[int, ...]) -> Band | None:
    """The central face as facewarden's ``central_face`` weighs it: large and near the centre."""
    if not boxes:
        return None
    height, width = shape[:2]

    def weight(box: Band) -> float:
        x1, y1, x2, y2 = box
        offset = ((x1 + x2 - width) ** 2 + (y1 + y2 - height) ** 2) / (width**2 + height**2)
        return (x2 - x1) * (y2 - y1) * float(np.exp(-4.0 * offset))

    return max(boxes, key=weight)


def read_pairs(count: int) -> list[tuple[Path, Path, bool]]:
    """The first ``count`` same-person and ``count`` different-person pairs of fold 1."""
    lines = [line.split("\t") for line in (FOLD / "pairs.txt").read_text().splitlines()[1:]]

    def photo(name: str, number: str) -> Path:
        return FOLD / "lfw" / name / f"{name}_{int(number):04d}.jpg"

    same = [(photo(a, i), photo(a, j), True) for a, i, j in (t for t in lines if len(t) == 3)]
    other = [(photo(a, i), photo(b, j), False) for a, i, b, j in (t for t in lines if len(t) == 4)]
    return same[:count] + other[:count]


def moved(box: Band, where: PointMap) -> Band:
    """``box`` where the degradation put it, as tight as the original.

    The box around its mapped corners (exact for a quarter turn), shrunk about
    its centre to the original area (a tilted face's box is not wider).
    """
    x1, y1, x2, y2 = box
    corners = [where(x, y) for x in (x1, x2) for y in (y1, y2)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    w, h = max(xs) - min(xs), max(ys) - min(ys)
    shrink = float(np.sqrt((x2 - x1) * (y2 - y1) / (w * h)))
    w, h = w * shrink, h * shrink
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def covers(box: Band | None, point: tuple[float, float]) -> bool:
    return box is not None and box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


@dataclass
class Tally:
    """One system's figures under one condition."""

    probes_found: int = 0
    group_found: int = 0
    group_extra: int = 0
    verified: int = 0
    refused: int = 0
    let_in: int = 0
    cpu_ms: list[float] = field(default_factory=list)


def seeded(seed: int, condition: str, kind: int, index: int) -> np.random.Generator:
    """The generator of one photo (``kind`` 0: LFW, 1: group) under one condition: the same
    draw in every run."""
    return np.random.default_rng([seed, zlib.crc32(condition.encode()), kind, index])


def run_condition(
    condition: Condition,
    systems: list[System],
    pairs: list[tuple[Path, Path, bool]],
    references: dict[str, dict[Path, Vector | None]],
    groups: dict[Path, list[Band]],
    seed: int,
) -> dict[str, Tally]:
    tallies = {judge: Tally() for s in systems for judge in s.judges}
    for index, (a, b, genuine) in enumerate(pairs):
        upright = imaging.decode(a)
        image, where = condition.apply(upright, seeded(seed, condition.name, 0, index), [LFW_FACE])
        height, width = upright.shape[:2]
        centre = where(width / 2, height / 2)
        for system in systems:
            probe = system.probe(image, embed=True)
            reference = references[system.name][b]
            for judge, same in system.judges.items():
                tally = tallies[judge]
                tally.cpu_ms.append(probe.cpu_ms)
                tally.probes_found += covers(probe.central, centre)
                if probe.central is None or reference is None:
                    continue
                if not probe.usable or probe.embedding is None:
                    tally.refused += 1  # the quality gate's refusal: not compared
                    continue
                if same(probe.embedding, reference):
                    tally.verified += genuine
                    tally.let_in += not genuine
    for index, (path, truth) in enumerate(groups.items()):
        photo = imaging.decode(path)
        image, where = condition.apply(photo, seeded(seed, condition.name, 1, index), truth)
        placed = [moved(box, where) for box in truth]
        for system in systems:
            boxes = system.probe(image, embed=False).boxes
            found = hits(placed, boxes)
            for judge in system.judges:
                tallies[judge].group_found += found
                tallies[judge].group_extra += len(boxes) - found
    return tallies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pairs", type=int, default=30, help="of each kind (at most 300)")
    parser.add_argument("--conditions", default="", help="names, comma-separated (default: all)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-groups", action="store_true", help="leave out the group photos")
    parser.add_argument("--list", action="store_true", help="print the conditions and stop")
    args = parser.parse_args()
    known = conditions()
    if args.list:
        for c in known:
            print(f"{c.name}: {c.what}")
        return
    wanted = [n.strip() for n in args.conditions.split(",") if n.strip()]
    unknown = sorted(set(wanted) - {c.name for c in known})
    if unknown:
        parser.error(f"unknown conditions {unknown}; --list shows them")
    chosen = [c for c in known if not wanted or c.name in wanted]
    if not FOLD.is_dir() or not GROUP.is_dir():
        parser.error(f"needs {FOLD} and {GROUP}")

    fast, accurate = Pipeline.from_mode("fast"), Pipeline.from_mode("accurate")
    fast_bar = comparison_threshold(fast, accurate, 1e-3)
    accurate_bar = threshold_for(accurate, 1e-3)
    systems: list[System] = [
        Facewarden("fw fast", fast, fast_bar),
        Facewarden("fw accurate", accurate, accurate_bar),
        FaceRecognition(),
    ]
    pairs = read_pairs(args.pairs)
    genuine = sum(g for _, _, g in pairs)
    groups = {} if args.no_groups else group_annotations()
    n_group = sum(len(b) for b in groups.values())

    # The second photo of each pair, upright, as it was enrolled: facewarden enrolls
    # with the accurate pipeline (a face under the quality bar is not enrolled).
    enrolled: dict[Path, Vector | None] = {}
    peer: dict[Path, Vector | None] = {}
    peer_system = systems[2]
    for _, b, _ in pairs:
        photo = imaging.decode(b)
        ours = systems[1].probe(photo, embed=True)
        enrolled[b] = ours.embedding if ours.usable else None
        peer[b] = peer_system.probe(photo, embed=True).embedding
    references = {"fw fast": enrolled, "fw accurate": enrolled, "face_recognition": peer}

    print(
        f"{len(pairs)} LFW fold-1 pairs ({genuine} same-person) with the first photo degraded; "
        f"{n_group} annotated faces in {len(groups)} group photos; seed {args.seed}"
    )
    fast_bar, accurate_bar = (
        comparison_threshold(fast, accurate, 1e-3),
        threshold_for(accurate, 1e-3),
    )
    print(
        f"operating points: fw fast {fast_bar:.4f}, fw accurate {accurate_bar:.4f} (FMR 1e-3), "
        f"face_recognition cosine {PEER_COSINE_AT_FMR_1E3:.4f} (FMR 1e-3) and distance 0.6 "
        "(its default; found, group and ms as above)"
    )
    header = (
        f"{'condition':<19} {'system':<21} {'found':>7} {'group':>7} {'extra':>5} "
        f"{'verified':>8} {'refused':>7} {'let in':>6} {'ms':>5}"
    )
    print(header)
    for condition in chosen:
        started = time.perf_counter()
        tallies = run_condition(condition, systems, pairs, references, groups, args.seed)
        for name, t in tallies.items():
            group = f"{t.group_found}/{n_group}" if groups else "-"
            extra = str(t.group_extra) if groups else "-"
            ms = f"{statistics.median(t.cpu_ms):.0f}" if t.cpu_ms else "-"
            print(
                f"{condition.name:<19} {name:<21} {t.probes_found:>3}/{len(pairs):<3} {group:>7} "
                f"{extra:>5} {t.verified:>3}/{genuine:<4} {t.refused:>7} "
                f"{t.let_in:>2}/{len(pairs) - genuine:<3} {ms:>5}"
            )
        peer_tally = tallies["face_recognition"]
        ratios = []
        for name in ("fw fast", "fw accurate"):
            ours_tally = tallies[name]
            ratios.append(
                f"{name}: found {_ratio(ours_tally.probes_found, peer_tally.probes_found)}, "
                f"group {_ratio(ours_tally.group_found, peer_tally.group_found)}, "
                f"verified {_ratio(ours_tally.verified, peer_tally.verified)}, "
                f"CPU {_ratio(_median(ours_tally.cpu_ms), _median(peer_tally.cpu_ms))}"
            )
        print(
            f"{'':<19} over face_recognition's: "
            + "; ".join(ratios)
            + f"  ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else ("=" if not ours else "inf")


if __name__ == "__main__":
    main()
