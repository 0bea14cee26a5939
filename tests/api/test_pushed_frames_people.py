"""The pushed-frame API counts people, not only faces, on a real street photo.

``IMG_32`` of ShanghaiTech Part B (``../shared/data/crowd-dev``): 44 heads
seen from an elevated camera, most of them small or turned away. The body
detector is the deployment's default, ``auto``: NanoDet-m where its files
were fetched (CI fetches them), else OpenCV's HOG. Measured on this frame:
with HOG 4 people (two faces the detector is sure of, and people seen by
their bodies only, among them a woman walking away with a backpack); with
NanoDet-m, 42.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ._live import LiveServer

CROWD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "crowd-dev"


def _push_street_frame(live: LiveServer, camera: str) -> dict[str, object]:
    frame = CROWD / "images" / "IMG_32.jpg"
    if not frame.is_file():
        pytest.skip(f"{CROWD} is absent (a fresh clone without ../shared); CI has it")
    with live.client("operator") as operator:
        created = operator.post("/v1/cameras", json={"name": camera, "location": "crossing"})
        assert created.status_code == 201, created.text
        response = operator.post(
            f"/v1/cameras/{camera}/frames",
            data={"taken_at": datetime.now(UTC).isoformat()},
            files={"image": ("frame.jpg", frame.read_bytes(), "image/jpeg")},
        )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_pushed_street_frame_reports_the_people_in_view(live: LiveServer) -> None:
    body = _push_street_frame(live, "street")
    # Never null: the body detector runs on pushed frames (FACEWARDEN_COUNT_PEOPLE,
    # on by default) and adds those whose faces are not seen to the faces it is sure of.
    assert isinstance(body["people"], int)
    assert 3 <= body["people"] <= 44, body


def test_by_default_pushed_frames_count_people_with_nanodet(
    live: LiveServer, nanodet_dir: Path
) -> None:
    body = _push_street_frame(live, "crossing")
    # NanoDet-m, the default where its files are: most of the 44, faces or not
    # (HOG counts 4 here).
    assert isinstance(body["people"], int)
    assert 34 <= body["people"] <= 50, body


def test_by_default_a_close_up_portrait_is_one_person(
    live: LiveServer, nanodet_dir: Path, faces_dir: Path
) -> None:
    # NanoDet-m boxes this close-up's head alone and its shoulders alone, boxes
    # whose upper half misses the face: 3 people before they were taken as parts
    # of the face's person (people.PART_FACE_HEIGHTS).
    portrait = faces_dir / "face_recognition" / "examples" / "obama2.jpg"
    with live.client("operator") as operator:
        created = operator.post("/v1/cameras", json={"name": "door", "location": "door"})
        assert created.status_code == 201, created.text
        response = operator.post(
            "/v1/cameras/door/frames",
            data={"taken_at": datetime.now(UTC).isoformat()},
            files={"image": ("frame.jpg", portrait.read_bytes(), "image/jpeg")},
        )
    assert response.status_code == 200, response.text
    assert response.json()["faces"] == 1
    assert response.json()["people"] == 1, response.json()
