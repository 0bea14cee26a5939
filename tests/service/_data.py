"""Where the shared real photos are, and what they show."""

from __future__ import annotations

from pathlib import Path

FACES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces"
KNN = FACES / "face_recognition" / "examples" / "knn_examples"
JOHNS = FACES / "dlib" / "examples" / "johns"

#: knn test photo -> the people in it (None: a face of someone not enrolled).
#: From the file names and shared/data/faces/README.md: obama_and_biden also
#: shows a child (not enrolled); kit_with_rose shows two enrolled people.
KNN_EXPECTED: dict[str, list[str | None]] = {
    "alex_lacamoire1.jpg": ["alex_lacamoire"],
    "johnsnow_test1.jpg": ["kit_harington"],
    "kit_with_rose.jpg": ["kit_harington", "rose_leslie"],
    "obama1.jpg": ["obama"],
    "obama_and_biden.jpg": ["biden", "obama", None],
}

#: dlib's johns set: 5 people x 11 chips; the first 5 (sorted) are enrolled.
JOHNS_ENROLLED = 5


def johns_split() -> dict[str, tuple[list[Path], list[Path]]]:
    """person -> (photos to enroll, photos to identify)."""
    split = {}
    for person in sorted(p for p in JOHNS.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))
        split[person.name] = (photos[:JOHNS_ENROLLED], photos[JOHNS_ENROLLED:])
    return split
