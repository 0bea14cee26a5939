"""``facewarden serve`` without NanoDet-m's files: it starts, counts with HOG, says so once.

The people detector's default is ``auto`` (NanoDet-m when its files are
present). A real ``facewarden serve`` subprocess, with
``FACEWARDEN_PEOPLE_MODEL_DIR`` at an empty folder: the server starts, one
line says that bodies are counted with OpenCV's HOG detector (pushed frames
and the server's ingest worker share one detector: one notice, not one per
frame or per path), and a pushed street frame still reports its people.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .test_serve_postgres import start_serve

CROWD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "crowd-dev"
NOTICE = "counting bodies with OpenCV's HOG detector"


def test_serve_without_nanodets_files_counts_with_hog_and_says_so_once(tmp_path: Path) -> None:
    frame = CROWD / "images" / "IMG_32.jpg"
    if not frame.is_file():
        pytest.skip(f"{CROWD} is absent (a fresh clone without ../shared); CI has it")
    empty = tmp_path / "no-model"
    empty.mkdir()
    running = start_serve(
        "--init",
        "--data-dir",
        tmp_path / "data",
        "--key-dir",
        tmp_path / "keys",
        env={"FACEWARDEN_MODE": "fast", "FACEWARDEN_PEOPLE_MODEL_DIR": str(empty)},
    )
    try:
        with running.client(running.api_key()) as client:
            created = client.post("/v1/cameras", json={"name": "street", "location": "crossing"})
            assert created.status_code == 201, created.text
            start = datetime.now(UTC)
            for second in range(2):
                response = client.post(
                    "/v1/cameras/street/frames",
                    data={"taken_at": (start + timedelta(seconds=second)).isoformat()},
                    files={"image": ("frame.jpg", frame.read_bytes(), "image/jpeg")},
                )
                assert response.status_code == 200, response.text
                # HOG's count on this frame (measured 4; NanoDet-m: 42).
                assert 3 <= response.json()["people"] <= 12, response.json()
    finally:
        assert running.stop() == 0, "".join(running.out + running.err)
    output = "".join(running.out + running.err)
    assert output.count(NOTICE) == 1, output
    assert str(empty) in output
