"""Acceptance 5 of issue 5: crowd counts on real group photos against their annotations.

Each photo is one frame through the crowd path the frame processor uses (the
video face pipeline: the small-face detector on the whole frame; OpenCV's
HOG people detector; :func:`count_people`).
The annotated counts are dlib's boxes (training.xml and testing.xml) and the
24 faces of bald_guys.jpg (../shared/data/faces/README.md). The per-image
errors are printed (``pytest -s``) and bounded here. Measured with the
small-face detector (issue 11): faces 66/67, people 2/67 off; before it, one
HOG pass at the video budget found 63/67.

People whose faces are not visible (faces painted over in these seated and
waist-up group photos): the face count drops to 0, and the HOG body
detector, a standing full-body detector, finds none of the 43 (see the last
two tests). Standing people walking away from a camera are counted: see
test_people_facing_away.py (OpenCV's pedestrian video).
"""

from __future__ import annotations

import functools
import glob
from pathlib import Path

import numpy as np
import pytest

from facewarden.imaging import decode
from facewarden.service.camera_pipeline import video_pipeline
from facewarden.types import Box
from facewarden.vision.people import PeopleDetector, count_people
from facewarden.vision.pipeline import MODES
from vision._boxes import annotated_images


def _face_boxes(faces_dir: Path) -> dict[Path, list[Box]]:
    """dlib's annotated face boxes of its 9 group photos."""
    root = faces_dir / "dlib" / "examples" / "faces"
    return {
        root / name: boxes
        for xml in ("training.xml", "testing.xml")
        for name, boxes in annotated_images(root / xml).items()
    }


def _annotated(faces_dir: Path) -> dict[Path, int]:
    counts = {path: len(boxes) for path, boxes in _face_boxes(faces_dir).items()}
    counts[faces_dir / "dlib" / "examples" / "faces" / "bald_guys.jpg"] = 24
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
    # Measured: faces 1/67 off (one missed in 2008_002079), people 2/67. Stills
    # 4/67: the same miss, one false face (hands on a camera strap in
    # 2007_007763, score 0.81) and two blurred faces in bald_guys' background
    # that the 24-face annotation leaves out (looked at: real faces).
    assert face_error <= 2 and still_error <= 4
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


def _hide(image: np.ndarray, boxes: list[Box], margin: float = 0.35) -> np.ndarray:
    """``image`` with every box (grown by ``margin`` a side) painted in its mean colour."""
    out = image.copy()
    height, width = image.shape[:2]
    for box in boxes:
        dx, dy = box.width * margin, box.height * margin
        x1, y1 = max(0, int(box.x_min - dx)), max(0, int(box.y_min - dy))
        x2, y2 = min(width, int(box.x_max + dx)), min(height, int(box.y_max + dy))
        patch = out[y1:y2, x1:x2]
        patch[...] = patch.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    return out


@functools.cache
def _faces_hidden(faces_dir: Path) -> tuple[tuple[str, int, int, int, int, int, int], ...]:
    """Per photo, faces hidden: annotated, faces (video, still), bodies, on a person, counted."""
    people = PeopleDetector()
    fast = MODES["fast"]
    rows = []
    for path, boxes in sorted(_face_boxes(faces_dir).items()):
        image = _hide(decode(path), boxes)
        height, width = image.shape[:2]
        faces = video_pipeline(fast, width, height).run(image, embed=False)
        still = fast.detector.detect(image)
        bodies = people.detect(image)
        # A body stands over an annotated person when its upper half holds a hidden face.
        on_person = len(bodies) + len(boxes) - count_people(boxes, bodies)
        counted = count_people([f.box for f in faces], bodies)
        rows.append(
            (path.name, len(boxes), len(faces), len(still), len(bodies), on_person, counted)
        )
    print(
        "\nfaces painted over:  annotated  faces(video)  faces(still)  bodies  on a person  people"
    )
    for name, truth, found, still_found, bodies_found, on_person, counted in rows:
        print(
            f"{name:18} {truth:9} {found:12} {still_found:13} {bodies_found:7} "
            f"{on_person:12} {counted:7}"
        )
    total = sum(r[1] for r in rows)
    print(
        f"people whose faces are not visible: {total}; bodies found on them: "
        f"{sum(r[5] for r in rows)}; people counted: {sum(r[6] for r in rows)}"
    )
    return tuple(rows)


@pytest.mark.slow
def test_people_whose_faces_are_not_visible_on_real_photos(faces_dir: Path) -> None:
    """Acceptance 5's "people facing away", as far as the real photos here allow.

    No photo in ../shared/data shows anyone from behind (README.md lists
    portraits, group photos and face chips). What is run instead: dlib's 9
    annotated group photos with every annotated face painted over (a head
    turned away shows no face either), through the crowd path of the frame
    processor. The faces are gone from the count; what the counter still
    counts comes from the body detector alone.

    Measured, and the honest result: OpenCV's HOG pedestrian detector is a
    *full-body* detector; in these photos people sit at tables or are framed
    from the waist up, and it finds **none** of the 43 people whose faces are
    hidden. Its one window (2008_001322.jpg) is on the wall above a man's
    head, not on a person. So the counter counts 1 "person" where there
    are 43: seated or waist-up people who show no face are not counted (the
    strict xfail below); standing people facing away are
    (test_people_facing_away.py).
    """
    rows = _faces_hidden(faces_dir)
    assert len(rows) == 9 and sum(r[1] for r in rows) == 43
    assert all(r[2] == 0 for r in rows), "a painted-over face was still found"
    # The still detector's one window is the false face on 2007_007763's hands
    # (see the test above), not a painted-over face.
    assert sum(r[3] for r in rows) <= 1
    assert all(r[6] <= r[1] for r in rows)  # never more people than there are
    assert sum(r[4] for r in rows) <= 2  # stray body windows stay rare


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="the HOG full-body detector finds 0 of 43 seated or waist-up people whose "
    "faces are hidden; counting them needs a body detector for such views",
)
def test_the_body_detector_counts_most_people_whose_faces_are_hidden(faces_dir: Path) -> None:
    rows = _faces_hidden(faces_dir)
    assert sum(r[5] for r in rows) >= sum(r[1] for r in rows) / 2
