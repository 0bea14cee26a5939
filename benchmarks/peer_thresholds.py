"""What other systems' thresholds mean in facewarden's terms, on LFW fold 1.

A user moving from face_recognition keeps asking "what is my 0.6 here?". The
answer is a false match rate: this script embeds every image of the LFW View 2
fold-1 folder with face_recognition (its README's defaults: HOG upsampled
once, one embedding, the central face as facewarden picks it) and with
facewarden's ``accurate`` pipeline (``compare``, ``verify``, enrollment), then
counts over every pair of images (931 same-person, 324,290 different-person):

* face_recognition at its 0.6 distance tolerance: the false match rate (FMR)
  and false non-match rate (FNMR) it gives, and the facewarden similarity with
  that same FMR;
* DeepFace's published thresholds for its ``Dlib`` model (the same ResNet,
  one view: cosine distance 0.07, Euclidean-L2 0.4) applied to
  face_recognition's embeddings: their FMR and FNMR;
* facewarden at its calibrated points (FMR 1e-2, 1e-3, 1e-4);
* face_recognition's encodings as probes against facewarden's embeddings (what its
  stored encodings would do if sent to the CompreFace embedding routes);
* and on the 600 View 2 pairs themselves, the errors of each.

Run (about 4 minutes on two cores)::

    .venv/bin/python benchmarks/peer_thresholds.py

face_recognition is not a dependency: ``.venv/bin/pip install --no-deps face_recognition``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facewarden import imaging
from facewarden.eval.calibrate import pair_scores, threshold_at_fmr
from facewarden.match.thresholds import THRESHOLDS, threshold_for
from facewarden.vision.batch import run_batch
from facewarden.vision.pipeline import Pipeline, central_face

_FOLD = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw-fold1"
Matrix = npt.NDArray[np.float64]

#: face_recognition's default ``compare_faces`` tolerance (a Euclidean distance).
TOLERANCE = 0.6
#: DeepFace's thresholds for its Dlib model (``deepface/config/threshold.py``).
DEEPFACE_DLIB = {"cosine": 0.07, "euclidean_l2": 0.4}


def face_recognition_embedding(path: Path) -> npt.NDArray[np.float64] | None:
    """The central face's embedding, face_recognition's way (HOG upsampled once, one view)."""
    import face_recognition

    image = imaging.decode(path)
    locations = face_recognition.face_locations(image)
    if not locations:
        return None
    height, width = image.shape[:2]

    def weight(box: tuple[int, int, int, int]) -> float:
        top, right, bottom, left = box
        offset = ((left + right - width) ** 2 + (top + bottom - height) ** 2) / (
            width**2 + height**2
        )
        return (right - left) * (bottom - top) * float(np.exp(-4.0 * offset))

    best = max(locations, key=weight)
    return np.asarray(face_recognition.face_encodings(image, [best])[0], dtype=np.float64)


def rates(genuine: Matrix, impostor: Matrix, accept: float, *, higher: bool) -> tuple[float, float]:
    """(FMR, FNMR) of scores accepted at ``accept`` (at or over it, or at or under it)."""
    if higher:
        return float((impostor >= accept).mean()), float((genuine < accept).mean())
    return float((impostor <= accept).mean()), float((genuine > accept).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", type=Path, default=_FOLD / "lfw")
    parser.add_argument("--pairs", type=Path, default=_FOLD / "pairs.txt")
    args = parser.parse_args()
    paths = sorted(args.root.glob("*/*.jpg"))
    labels = [p.parent.name for p in paths]

    theirs = [face_recognition_embedding(p) for p in paths]
    pipeline = Pipeline.from_mode("accurate")
    ours: list[npt.NDArray[np.float64] | None] = [None] * len(paths)
    for item in run_batch(pipeline, paths):
        face = central_face(item.faces, item.image_shape) if item.error is None else None
        if face is not None:
            ours[item.index] = face.require_embedding().astype(np.float64)
    kept = [i for i in range(len(paths)) if theirs[i] is not None and ours[i] is not None]
    print(
        f"{len(paths)} images; a face found by face_recognition in "
        f"{sum(e is not None for e in theirs)}, by facewarden in "
        f"{sum(e is not None for e in ours)}; compared on the {len(kept)} found by both"
    )
    names = [labels[i] for i in kept]
    fr = np.stack([theirs[i] for i in kept])  # type: ignore[misc]
    fw = np.stack([ours[i] for i in kept])  # type: ignore[misc]
    norms = np.linalg.norm(fr, axis=1)
    print(f"face_recognition embedding norms: {norms.min():.3f} to {norms.max():.3f}")

    fw_genuine, fw_impostor = (s.astype(np.float64) for s in pair_scores(fw, names))
    unit = fr / norms[:, None]
    cos_genuine, cos_impostor = (s.astype(np.float64) for s in pair_scores(unit, names))
    upper = np.triu_indices(len(kept), k=1)
    distances = np.linalg.norm(fr[:, None, :] - fr[None, :, :], axis=2)[upper]
    codes = np.unique(np.asarray(names), return_inverse=True)[1]
    same = codes[upper[0]] == codes[upper[1]]
    d_genuine, d_impostor = distances[same], distances[~same]
    print(f"pairs: {len(fw_genuine)} same-person, {len(fw_impostor)} different-person")

    fmr, fnmr = rates(d_genuine, d_impostor, TOLERANCE, higher=False)
    print(
        f"face_recognition, distance <= {TOLERANCE}: FMR {fmr:.4%} "
        f"({int((d_impostor <= TOLERANCE).sum())} pairs), FNMR {fnmr:.2%}"
    )
    equivalent = threshold_at_fmr(fw_impostor.astype(np.float32), fmr)
    fw_fmr, fw_fnmr = rates(fw_genuine, fw_impostor, equivalent, higher=True)
    print(
        f"  facewarden accurate at the same FMR: similarity {equivalent:.4f} "
        f"(FMR {fw_fmr:.4%}, FNMR {fw_fnmr:.2%})"
    )
    same_cos = 1 - TOLERANCE**2 / 2
    print(
        f"  0.6 as a cosine similarity of unit vectors would be {same_cos:.2f}; "
        f"face_recognition's own pairs at distance 0.6 have cosine "
        f"{np.median(cos_impostor[np.abs(d_impostor - TOLERANCE) < 0.01]):.3f} (median)"
    )
    for metric, value in DEEPFACE_DLIB.items():
        if metric == "cosine":
            m_fmr, m_fnmr = rates(cos_genuine, cos_impostor, 1 - value, higher=True)
        else:
            m_fmr, m_fnmr = rates(cos_genuine, cos_impostor, 1 - value**2 / 2, higher=True)
        print(
            f"DeepFace Dlib {metric} {value} on face_recognition's embeddings: "
            f"FMR {m_fmr:.4%}, FNMR {m_fnmr:.2%}"
        )
    # face_recognition's stored encodings sent as probes (CompreFace's embedding routes
    # L2-normalise them) against facewarden's enrollment templates: each image's encoding
    # against every other image's facewarden embedding.
    cross = unit @ fw.T
    cross_same = (codes[:, None] == codes[None, :]) & ~np.eye(len(kept), dtype=bool)
    cross_other = codes[:, None] != codes[None, :]
    own = float(np.median(np.diag(cross)))
    bar = threshold_for(pipeline, 1e-3)
    x_fmr, x_fnmr = rates(cross[cross_same], cross[cross_other], bar, higher=True)
    print(
        f"face_recognition encodings against facewarden accurate embeddings: same photo "
        f"{own:.3f} (median); at similarity {bar} (FMR 1e-3): FMR {x_fmr:.4%}, FNMR {x_fnmr:.2%}"
    )
    key = "dlib-resnet+mirror+jitter8"
    for point in sorted(THRESHOLDS[key], reverse=True):
        bar = threshold_for(pipeline, point)
        p_fmr, p_fnmr = rates(fw_genuine, fw_impostor, bar, higher=True)
        print(
            f"facewarden accurate, FMR {point:g} (similarity {bar}): "
            f"FMR {p_fmr:.4%} here, FNMR {p_fnmr:.2%}"
        )

    index = {p.relative_to(args.root).as_posix(): i for i, p in enumerate(paths)}
    position = {k: n for n, k in enumerate(kept)}
    pair_errors = {"face_recognition 0.6": [0, 0], "facewarden FMR 1e-3": [0, 0]}
    compared = [0, 0]  # same-person, different-person pairs whose photos both systems read
    bar = threshold_for(pipeline, 1e-3)
    lines = args.pairs.read_text().splitlines()[1:]
    for line in (t.split("\t") for t in lines if t.strip()):
        if len(line) == 3:
            a = f"{line[0]}/{line[0]}_{int(line[1]):04d}.jpg"
            b, genuine = f"{line[0]}/{line[0]}_{int(line[2]):04d}.jpg", True
        else:
            a = f"{line[0]}/{line[0]}_{int(line[1]):04d}.jpg"
            b, genuine = f"{line[2]}/{line[2]}_{int(line[3]):04d}.jpg", False
        i, j = position.get(index[a]), position.get(index[b])
        if i is None or j is None:
            continue
        compared[0 if genuine else 1] += 1
        decided = {
            "face_recognition 0.6": float(np.linalg.norm(fr[i] - fr[j])) <= TOLERANCE,
            "facewarden FMR 1e-3": float(fw[i] @ fw[j]) >= bar,
        }
        for name, accepted in decided.items():
            if genuine and not accepted:
                pair_errors[name][0] += 1
            if not genuine and accepted:
                pair_errors[name][1] += 1
    for name, (refused, let_in) in pair_errors.items():
        print(
            f"View 2 pairs, {name}: {refused} of {compared[0]} same-person refused, "
            f"{let_in} of {compared[1]} different let in"
        )


if __name__ == "__main__":
    main()
