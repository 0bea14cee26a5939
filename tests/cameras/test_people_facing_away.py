"""Acceptance 5 of issue 5: people facing away are counted, on a real video.

``vtest.avi`` is OpenCV's own pedestrian sample (shipped in Debian's
``opencv-doc`` package, examples/data; ``.ci/run`` extracts it to
``~/.cache/facewarden/opencv-samples``): a fixed, elevated camera over a
campus path, people 80-150 px tall walking every way, many with their backs
to the camera. No face in it is large enough to detect, so a face counter
sees nobody; the body detector, set for this camera's smallest people
(``min_height=70``), counts them.

Ground truth, by eye, for five frames: everyone in view, and the boxes of
five people whose backs are turned to the camera. Measured: faces 0 in every
frame (video and still-photo pipelines); people counted 3/3, 7/7, 3/3, 4/6,
5/8 (the misses: a woman at the bottom edge, a man half behind the lamp
post, and a 40 px person loading a car); every back-turned person counted.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from facewarden.service.camera_pipeline import video_pipeline
from facewarden.types import Box
from facewarden.vision.people import PeopleDetector, count_people
from facewarden.vision.pipeline import MODES

# frame index -> people in view (all of them, however small or cut off).
IN_VIEW = {0: 3, 200: 7, 400: 3, 600: 6, 790: 8}
# frame index -> people with their back to the camera (by eye, xyxy pixels).
BACKS_TURNED = {
    0: [Box(252, 218, 286, 308)],
    200: [Box(83, 152, 110, 215), Box(221, 191, 249, 267)],
    600: [Box(188, 144, 215, 214), Box(569, 199, 597, 288)],
}


def _sample() -> Path:
    candidates = [
        Path(os.environ.get("FACEWARDEN_OPENCV_SAMPLES", "/nonexistent")) / "vtest.avi",
        Path.home() / ".cache" / "facewarden" / "opencv-samples" / "vtest.avi",
        Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi"),
    ]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        pytest.skip(
            "OpenCV's vtest.avi is not here: install Debian's opencv-doc package, or run "
            ".ci/run, which extracts it to ~/.cache/facewarden/opencv-samples"
        )
    return found


def _frames(path: Path) -> dict[int, npt.NDArray[np.uint8]]:
    capture = cv2.VideoCapture(str(path))
    frames: dict[int, npt.NDArray[np.uint8]] = {}
    index = 0
    try:
        while len(frames) < len(IN_VIEW):
            ok, bgr = capture.read()
            assert ok, f"{path} ended at frame {index}"
            if index in IN_VIEW:
                frames[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()
    return frames


def test_people_facing_away_are_counted_where_no_face_is_seen() -> None:
    frames = _frames(_sample())
    people = PeopleDetector(min_height=70)
    print("\nframe  in view  faces  faces(still)  people counted")
    counted_total = 0
    for index, image in frames.items():
        height, width = image.shape[:2]
        faces = video_pipeline(MODES["fast"], width, height).run(image, embed=False)
        still = MODES["accurate"].detector.detect(image)
        bodies = people.detect(image)
        counted = count_people([f.box for f in faces], bodies)
        counted_total += counted
        print(f"{index:5} {IN_VIEW[index]:8} {len(faces):6} {len(still):13} {counted:15}")
        assert faces == [] and still == []  # a face counter would see nobody here
        assert counted <= IN_VIEW[index]  # no false people
        for person in BACKS_TURNED.get(index, []):
            x, y = person.center
            assert any(b.x_min <= x <= b.x_max and b.y_min <= y <= b.y_max for b in bodies), (
                f"the person at {person} (back to the camera) in frame {index} was not counted"
            )
    total = sum(IN_VIEW.values())
    print(f"people counted {counted_total}/{total}")
    assert counted_total >= 0.75 * total


def test_nanodet_counts_everyone_in_view_with_their_backs_turned(nanodet_dir: Path) -> None:
    """NanoDet-m, set for this camera's smallest people, counts everyone the eye counts.

    Measured: 3/3, 7/7, 3/3, 6/6, 8/8 (HOG: 22 of 27). Without ``min_height``
    it also takes a sign post and traffic cones 24 to 30 px tall for people.
    """
    from facewarden.vision.people_nanodet import NanodetPeopleDetector

    frames = _frames(_sample())
    people = NanodetPeopleDetector(min_height=40, folder=nanodet_dir)
    counted_total = 0
    for index, image in frames.items():
        bodies = people.detect(image)
        counted = count_people([], bodies)
        counted_total += counted
        assert counted <= IN_VIEW[index], f"frame {index}: {counted} counted, {IN_VIEW[index]} seen"
        for person in BACKS_TURNED.get(index, []):
            x, y = person.center
            assert any(b.x_min <= x <= b.x_max and b.y_min <= y <= b.y_max for b in bodies), (
                f"the person at {person} (back to the camera) in frame {index} was not counted"
            )
    assert counted_total >= 0.95 * sum(IN_VIEW.values())
