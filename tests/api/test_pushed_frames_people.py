"""The pushed-frame API counts people, not only faces, on a real street photo.

``IMG_32`` of ShanghaiTech Part B (``../shared/data/crowd-dev``): 44 heads
seen from an elevated camera, most of them small or turned away. Measured on
this frame: 3 faces, 4 people (two faces the detector is sure of, and people
seen by their bodies only, among them a woman walking away with a backpack).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ._live import LiveServer

CROWD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "crowd-dev"


def test_a_pushed_street_frame_reports_the_people_in_view(live: LiveServer) -> None:
    frame = CROWD / "images" / "IMG_32.jpg"
    if not frame.is_file():
        pytest.skip(f"{CROWD} is absent (a fresh clone without ../shared); CI has it")
    with live.client("operator") as operator:
        created = operator.post("/v1/cameras", json={"name": "street", "location": "crossing"})
        assert created.status_code == 201, created.text
        response = operator.post(
            "/v1/cameras/street/frames",
            data={"taken_at": datetime.now(UTC).isoformat()},
            files={"image": ("frame.jpg", frame.read_bytes(), "image/jpeg")},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    # Never null: the body detector runs on pushed frames (FACEWARDEN_COUNT_PEOPLE,
    # on by default) and adds those whose faces are not seen to the faces it is sure of.
    assert isinstance(body["people"], int)
    assert 3 <= body["people"] <= 44, body
