"""Acceptance 5 of issue 5: crowd counts on real group photos against their annotations.

Each photo is one frame through the crowd path the frame processor uses (the
video face pipeline, OpenCV's HOG people detector, :func:`count_people`).
The annotated counts are dlib's boxes (training.xml and testing.xml) and the
24 faces of bald_guys.jpg (../shared/data/faces/README.md). The per-image
errors are printed (``pytest -s``) and bounded here. Measured: faces 63/67
(4 missed, all in the 3 MP bald_guys collage scaled to the video budget),
people 5/67 off (those 4 and one false body), the still-photo cascade 67/67.
"""

from __future__ import annotations

import glob
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from facewarden.imaging import decode
from facewarden.service.frames import video_pipeline
from facewarden.vision.people import PeopleDetector, count_people
from facewarden.vision.pipeline import MODES


def _annotated(faces_dir: Path) -> dict[Path, int]:
    root = faces_dir / "dlib" / "examples" / "faces"
    counts: dict[Path, int] = {}
    for name in ("training.xml", "testing.xml"):
        for image in ET.parse(root / name).getroot().iter("image"):
            boxes = [b for b in image.iter("box") if b.get("ignore") != "1"]
            counts[root / str(image.get("file"))] = len(boxes)
    counts[root / "bald_guys.jpg"] = 24
    return counts


@pytest.mark.slow
def test_crowd_counts_on_the_dlib_group_photos_and_bald_guys(faces_dir: Path) -> None:
    people = PeopleDetector()
    rows = []
    for path, truth in sorted(_annotated(faces_dir).items()):
        image = decode(path)
        height, width = image.shape[:2]
        faces = video_pipeline(MODES["fast"], width, height).run(image, embed=False)
        boxes = [f.box for f in faces]
        in_view = count_people(boxes, people.detect(image))
        still = len(MODES["fast"].detector.detect(image))
        rows.append((path.name, truth, len(faces), in_view, still))
    print("\nimage                 annotated  faces  people  faces(still cascade)")
    for name, truth, found, in_view, still in rows:
        print(f"{name:22} {truth:9} {found:6} {in_view:7} {still:7}")
    total = sum(r[1] for r in rows)
    face_error = sum(abs(r[2] - r[1]) for r in rows)
    people_error = sum(abs(r[3] - r[1]) for r in rows)
    still_error = sum(abs(r[4] - r[1]) for r in rows)
    print(
        f"absolute error: faces {face_error}/{total}, people {people_error}/{total}, "
        f"still-photo cascade {still_error}/{total}"
    )
    assert len(rows) == 10
    # The video budget (one HOG pass on at most 0.52 MP) misses the smallest
    # faces of the 3 MP collage; the still-photo cascade finds them all.
    assert face_error <= 4 and still_error <= 1
    assert people_error <= 5


def test_the_people_detector_rarely_fires_on_photos_without_standing_people(
    faces_dir: Path,
) -> None:
    # None of the 99 photos shows a standing, full-body person: every window
    # the pedestrian detector fires on is a false positive.
    paths = sorted(
        glob.glob(str(faces_dir / "**" / "*.jp*g"), recursive=True)
        + glob.glob(str(faces_dir / "**" / "*.png"), recursive=True)
    )
    images = [decode(p) for p in paths]
    images = [i for i in images if min(i.shape[:2]) >= 128]
    false_bodies = sum(len(PeopleDetector().detect(i)) for i in images)
    print(f"\nfalse body detections: {false_bodies} on {len(images)} photos")
    assert false_bodies <= 3


def test_people_facing_away_on_a_real_image(faces_dir: Path) -> None:
    pytest.skip(
        "no photo in ../shared/data/faces shows a person from behind or a standing "
        "full-body person (README.md lists portraits, group photos and face chips); "
        "counting people facing away is implemented (vision/people.py) but not "
        "demonstrated on a real image here"
    )
