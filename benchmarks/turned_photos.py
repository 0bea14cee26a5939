"""Verification of turned photos (a lost EXIF turn, a tilted head) against face_recognition.

Each LFW fold-1 pair compares its first photo, turned by each angle, with its
second photo upright: what a phone photo whose EXIF orientation was dropped
(a quarter or three quarters turned, or upside down) or a tilted selfie does
to a 1:1 check. facewarden runs its ``accurate`` pipeline (enrollment and
``verify``: the central face, the similarity at FMR 1e-3); face_recognition
its README's defaults (HOG with one upsampling, one embedding, ``compare_faces``
at its 0.6 distance tolerance, a looser operating point than FMR 1e-3: it
verifies a few more upright pairs and lets more strangers in), on the same
pixels. Printed per angle: the photos where a face was found, the
same-person pairs verified and the different-person pairs let in, and our
figures over the peer's.

Run (about 5 minutes for the default 60 + 60 pairs on two cores)::

    .venv/bin/python benchmarks/turned_photos.py
    .venv/bin/python benchmarks/turned_photos.py --pairs 300 --angles 0,90,180,270

face_recognition is not a dependency: ``.venv/bin/pip install --no-deps face_recognition``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from facewarden import imaging
from facewarden.match.thresholds import threshold_for
from facewarden.vision.pipeline import Pipeline, central_face

_FOLD = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw-fold1"
RGBImage = npt.NDArray[np.uint8]
Vector = npt.NDArray[np.float64]
Embedding = Vector | None


def turned(image: RGBImage, degrees: int) -> RGBImage:
    """``image`` turned counter-clockwise; quarter turns exactly, others on a grey ground."""
    if degrees % 90 == 0:
        return np.ascontiguousarray(np.rot90(image, degrees // 90))
    rotated = Image.fromarray(image).rotate(
        degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(128, 128, 128)
    )
    return np.asarray(rotated)


def read_pairs(path: Path, root: Path, count: int) -> list[tuple[Path, Path, bool]]:
    """The first ``count`` same-person and ``count`` different-person pairs of a View 2 file."""
    lines = [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]

    def photo(name: str, number: str) -> Path:
        return root / name / f"{name}_{int(number):04d}.jpg"

    same = [(photo(a, i), photo(a, j), True) for a, i, j in (t for t in lines if len(t) == 3)]
    other = [(photo(a, i), photo(b, j), False) for a, i, b, j in (t for t in lines if len(t) == 4)]
    return same[:count] + other[:count]


def ours(pipeline: Pipeline) -> Callable[[RGBImage], Embedding]:
    def embed(image: RGBImage) -> Embedding:
        face = central_face(pipeline.run(image), image.shape)
        return None if face is None else face.require_embedding().astype(np.float64)

    return embed


def theirs(image: RGBImage) -> Embedding:
    import face_recognition

    locations = face_recognition.face_locations(image)  # HOG, upsample 1: its default
    if not locations:
        return None
    height, width = image.shape[:2]

    def weight(box: tuple[int, int, int, int]) -> float:  # the central face, as ours picks it
        top, right, bottom, left = box
        offset = ((left + right - width) ** 2 + (top + bottom - height) ** 2) / (
            width**2 + height**2
        )
        return (right - left) * (bottom - top) * float(np.exp(-4.0 * offset))

    best = max(locations, key=weight)
    return np.asarray(face_recognition.face_encodings(image, [best])[0], dtype=np.float64)


@dataclass(frozen=True)
class System:
    """A face verifier: the central face's embedding, and whether two embeddings match."""

    name: str
    embed: Callable[[RGBImage], Embedding]
    same: Callable[[Vector, Vector], bool]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", type=Path, default=_FOLD / "lfw")
    parser.add_argument("--pairs-file", type=Path, default=_FOLD / "pairs.txt")
    parser.add_argument("--pairs", type=int, default=60, help="of each kind (at most 300)")
    parser.add_argument("--angles", default="0,30,45,90,180,270")
    args = parser.parse_args()
    pipeline = Pipeline.from_mode("accurate")
    bar = threshold_for(pipeline, 1e-3)
    pairs = read_pairs(args.pairs_file, args.root, args.pairs)
    genuine_count = sum(genuine for _, _, genuine in pairs)
    systems = [
        System("facewarden", ours(pipeline), lambda a, b: float(a @ b) >= bar),
        System("face_recognition", theirs, lambda a, b: float(np.linalg.norm(a - b)) <= 0.6),
    ]
    print(f"{len(pairs)} LFW fold-1 pairs; facewarden accurate at similarity {bar} (FMR 1e-3)")
    references = {s.name: {b: s.embed(imaging.decode(b)) for _, b, _ in pairs} for s in systems}
    for degrees in (int(a) for a in args.angles.split(",")):
        line = [f"{degrees:>4} deg"]
        verified_by = {}
        for system in systems:
            found = verified = let_in = 0
            started = time.process_time()
            for a, b, genuine in pairs:
                probe = system.embed(turned(imaging.decode(a), degrees))
                reference = references[system.name][b]
                if probe is None:
                    continue
                found += 1
                if reference is not None and system.same(probe, reference):
                    verified += genuine
                    let_in += not genuine
            cpu_ms = (time.process_time() - started) / len(pairs) * 1000
            verified_by[system.name] = verified
            line.append(
                f"{system.name}: found {found}/{len(pairs)}, verified {verified}/{genuine_count}, "
                f"let in {let_in}/{len(pairs) - genuine_count}, {cpu_ms:.0f} ms CPU"
            )
        if verified_by["face_recognition"]:
            ratio = verified_by["facewarden"] / verified_by["face_recognition"]
            line.append(f"verified: {ratio:.2f}x face_recognition's")
        else:
            line.append("verified: face_recognition none")
        print(" | ".join(line), flush=True)


if __name__ == "__main__":
    main()
