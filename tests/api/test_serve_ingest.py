"""``facewarden serve`` runs the cameras' sources itself (the managed ingest worker).

A real ``facewarden serve`` subprocess over a fresh SQLite deployment: a
camera added over the API with a video file (made from a real photo) is
picked up by the server's ingest supervisor within its rebalance period,
processed to its end, and the enrolled person who walks through it yields
one sighting; a camera whose file is missing shows an error state with its
reason, and does not stop the other. ``--no-ingest`` leaves cameras idle.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cameras._video import Walk, face_crop, write_video

from .test_serve_postgres import OBAMA, Served, create_watchlist, enroll, start_serve


@pytest.fixture
def served(tmp_path: Path, faces_dir: Path) -> Iterator[Served]:
    running = start_serve(
        "--init",
        "--data-dir",
        tmp_path / "data",
        "--key-dir",
        tmp_path / "keys",
        env={
            "FACEWARDEN_MODE": "fast",
            "FACEWARDEN_ENROLL_MODE": "fast",
            # The videos these tests register over the API are made here.
            "FACEWARDEN_CAMERA_VIDEO_DIR": str(tmp_path),
        },
    )
    yield running
    assert running.stop() == 0, "".join(running.out + running.err)


def _camera(client: httpx.Client, camera_id: str) -> dict[str, object]:
    response = client.get(f"/v1/cameras/{camera_id}")
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return body


def _wait_for(client: httpx.Client, camera_id: str, states: set[str]) -> dict[str, object]:
    deadline = time.monotonic() + 180
    camera = _camera(client, camera_id)
    while camera["state"] not in states and time.monotonic() < deadline:
        time.sleep(0.5)
        camera = _camera(client, camera_id)
    return camera


def test_serve_processes_camera_files_and_shows_their_states(
    served: Served, tmp_path: Path
) -> None:
    video = write_video(
        tmp_path / "door.mp4",
        [Walk("obama", face_crop(OBAMA, 150), 1.0, 5.0, (40, 120), (380, 160))],
        seconds=6.0,
        fps=10.0,
    )
    with served.client(served.api_key()) as client:
        create_watchlist(client)
        assert enroll(client).status_code == 201
        added = {}
        for name, source in (("door", video), ("lost", tmp_path / "missing.mp4")):
            response = client.post(
                "/v1/cameras",
                json={
                    "name": name,
                    "location": "gate",
                    "watchlists": ["gate"],
                    "source": str(source),
                },
            )
            assert response.status_code == 201, response.text
            added[name] = response.json()["camera_id"]
        door = _wait_for(client, added["door"], {"ended", "error", "failed"})
        lost = _wait_for(client, added["lost"], {"error", "failed"})
        audit = client.get("/v1/audit", params={"limit": 100}).json()["entries"]
    assert door["state"] == "ended", door
    assert door["frames"] and door["sightings"] == 1, door
    assert lost["state"] in {"error", "failed"} and "does not exist" in str(lost["error"]), lost
    assert str(tmp_path) not in str(lost["error"])  # the source is never shown
    assert [e["action"] for e in audit].count("sighting.record") == 1


def test_no_ingest_leaves_cameras_idle(tmp_path: Path, faces_dir: Path) -> None:
    running = start_serve(
        "--init",
        "--no-ingest",
        "--data-dir",
        tmp_path / "data",
        "--key-dir",
        tmp_path / "keys",
        env={"FACEWARDEN_CAMERA_VIDEO_DIR": str(tmp_path)},
    )
    try:
        with running.client(running.api_key()) as client:
            response = client.post(
                "/v1/cameras",
                json={"name": "door", "location": "gate", "source": str(tmp_path / "x.mp4")},
            )
            assert response.status_code == 201, response.text
            time.sleep(3)  # longer than the supervisor's rebalance period, were it running
            assert _camera(client, response.json()["camera_id"])["state"] == "idle"
    finally:
        assert running.stop() == 0
