"""Fixtures of the camera pages' browser tests (imported by test_console_cameras.py).

A server of its own (a subprocess, as in ``conftest.py``) over a fresh
fast-mode deployment that needs a second person's approval for location
histories, with one user per role (two investigators), a watchlist with one
enrolled person (a real photo), and, where the ingest supervisor exists, an
:class:`~facewarden.service.supervisor.IngestSupervisor` wired into the app
so that the cameras' states (a missing file, a wrong URL) reach the console.
Frames are pushed through ``POST /v1/cameras/{camera}/frames`` with an
operator's API key, built from real photos.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from facewarden.config import Settings

from .conftest import Console, open_tab, serve_subprocess

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CAMERA_USERS = {
    "admin": ("cam-admin", "camera admin password"),
    "operator": ("cam-operator", "camera operator password"),
    "analyst": ("cam-analyst", "camera analyst password"),
    "investigator": ("cam-investigator", "camera investigator pw"),
    "investigator2": ("cam-investigator-2", "second investigator pw"),
    "auditor": ("cam-auditor", "camera auditor password"),
}
# Users who are changed by a test (a password change ends their sessions): role given.
EXTRA_USERS = {"password-changer": ("cam-changer", "changer password 1", "operator")}
WATCHLIST = "lobby-alerts"
SUBJECT_NAME = "Barack Obama"

# The server, with the ingest supervisor where it exists (FACEWARDEN_TEST_INGEST=0 skips it).
SERVE = """
import os, socket
import uvicorn
from facewarden.api.app import create_app
from facewarden.config import Settings
from facewarden.service.warden import Warden

settings = Settings.load()
supervisor = None
warden = None
if os.environ.get("FACEWARDEN_TEST_INGEST") == "1":
    try:
        from facewarden.service.supervisor import IngestSupervisor
    except ImportError:
        IngestSupervisor = None
    if IngestSupervisor is not None:
        warden = Warden.open(settings, actor="system:server")
        supervisor = IngestSupervisor(
            warden.with_actor("system:ingest"),
            rebalance_seconds=0.5,
            retry_seconds=600,
            max_attempts=2,
            join_seconds=5,
        )
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# FACEWARDEN_TEST_PORT: the port a server stopped before had (a restart under open consoles).
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", int(os.environ.get("FACEWARDEN_TEST_PORT", "0"))))
app = create_app(settings, warden=warden, ingest=supervisor)
print(sock.getsockname()[1], "ingest" if supervisor is not None else "no-ingest", flush=True)
if supervisor is not None:
    supervisor.start()
try:
    uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)).run(
        sockets=[sock]
    )
finally:
    if supervisor is not None:
        supervisor.stop()
    if warden is not None:
        warden.close()
"""


@dataclass
class CameraServer:
    """The camera pages' server: where it is, its users, its API key and what it runs."""

    url: str
    settings: Settings
    log: Path
    api_key: str
    subject_id: str
    watchlist_id: str
    ingest: bool
    users: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(CAMERA_USERS))


def _settings(root: Path) -> Settings:
    return Settings(
        data_dir=root / "data",
        key_dir=root / "keys",
        workers=1,
        mode="fast",
        enroll_mode="fast",
        history_needs_approval=True,
        keep_enrollment_photos=True,
        camera_allowed_networks=("127.0.0.0/8",),  # the page adds a dead loopback stream
        camera_video_dir=root.parent,  # and videos of the tests' own temporary folders
    )


def _prepare(settings: Settings, photo: Path) -> tuple[str, str, str]:
    """Users, a watchlist with one enrolled person, an operator's API key."""
    from facewarden.service import SubjectRecord
    from facewarden.service.warden import Warden

    with Warden.open(settings, create=True, actor="test:setup") as warden:
        for role, (username, password) in CAMERA_USERS.items():
            warden.access.create_user(username, password, role.rstrip("2"))
        for username, password, role in EXTRA_USERS.values():
            warden.access.create_user(username, password, role)
        watchlist = warden.watchlists.create(
            WATCHLIST, purpose="Lobby security", lawful_basis="GDPR art. 6(1)(f), DPIA 2026-01"
        )
        record = SubjectRecord(full_name=SUBJECT_NAME, lawful_basis="test")
        subject = warden.registry.enroll(record, [photo], watchlists=(WATCHLIST,))
        issued = warden.access.create_api_key("camera-pusher", "operator")
        return issued.secret, subject.subject_id, watchlist.watchlist_id


def serve_env(settings: Settings, video_dir: Path, **more: str) -> dict[str, str]:
    """The environment of a server (:data:`SERVE`) over ``settings`` (``_settings``), whose
    cameras may play the videos under ``video_dir``."""
    env = dict(os.environ)
    env.update(
        FACEWARDEN_DATA_DIR=str(settings.data_dir),
        FACEWARDEN_KEY_DIR=str(settings.key_dir),
        FACEWARDEN_WORKERS="1",
        FACEWARDEN_MODE="fast",
        FACEWARDEN_ENROLL_MODE="fast",
        FACEWARDEN_HISTORY_NEEDS_APPROVAL="true",
        FACEWARDEN_KEEP_ENROLLMENT_PHOTOS="true",
        FACEWARDEN_CAMERA_ALLOWED_NETWORKS="127.0.0.0/8",
        # The page adds videos made in the tests' own temporary folders.
        FACEWARDEN_CAMERA_VIDEO_DIR=str(video_dir),
        FACEWARDEN_TEST_INGEST=os.environ.get("FACEWARDEN_TEST_INGEST", "1"),
        PYTHONWARNINGS="ignore",
    )
    env.update(more)
    return env


@pytest.fixture(scope="module")
def camera_server(
    tmp_path_factory: pytest.TempPathFactory, faces_dir: Path
) -> Iterator[CameraServer]:
    """The server of the camera pages' tests (see the module's docstring)."""
    root = tmp_path_factory.mktemp("cameras-console")
    settings = _settings(root)
    key, subject_id, watchlist_id = _prepare(
        settings, faces_dir / "face_recognition" / "examples" / "obama.jpg"
    )
    log = root / "server.log"
    env = serve_env(settings, tmp_path_factory.getbasetemp())
    with serve_subprocess(SERVE, env, log) as (url, said):
        yield CameraServer(
            url=url,
            settings=settings,
            log=log,
            api_key=key,
            subject_id=subject_id,
            watchlist_id=watchlist_id,
            ingest=said == ["ingest"],
        )


# -- frames built from real photos ---------------------------------------------------


def _face_tiles(faces_dir: Path, size: int) -> list[np.ndarray]:
    """Face crops of six different people (real photos)."""
    from cameras._video import face_crop  # tests/cameras/_video.py

    examples = faces_dir / "face_recognition" / "examples"
    train = examples / "knn_examples" / "train"
    photos = [
        examples / "obama.jpg",
        examples / "biden.jpg",
        examples / "alex-lacamoire.png",
        examples / "lin-manuel-miranda.png",
        train / "kit_harington" / "john1.jpeg",
        train / "rose_leslie" / "img1.jpg",
    ]
    return [face_crop(p, size) for p in photos]


@dataclass
class Frames:
    """JPEG frames: a crowded one (six faces), a quiet one (two), an enrolled person's."""

    crowded: bytes
    quiet: bytes
    sighting: bytes


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]
    )
    assert ok
    return bytes(buf)


@pytest.fixture(scope="module")
def frames(faces_dir: Path) -> Frames:
    """Synthetic 640x480 frames with real faces pasted on a backdrop."""
    from cameras._video import background  # tests/cameras/_video.py

    size = 120
    tiles = _face_tiles(faces_dir, size)
    spots = [(30, 40), (250, 40), (470, 40), (30, 300), (250, 300), (470, 300)]
    crowded = background(640, 480)
    for tile, (x, y) in zip(tiles, spots, strict=True):
        crowded[y : y + size, x : x + size] = tile
    quiet = background(640, 480)
    for tile, (x, y) in zip(tiles[1:3], spots[1:3], strict=True):
        quiet[y : y + size, x : x + size] = tile
    obama2 = cv2.imread(str(faces_dir / "face_recognition" / "examples" / "obama2.jpg"))
    assert obama2 is not None
    sighting = bytes(cv2.imencode(".jpg", obama2)[1])
    return Frames(crowded=_jpeg(crowded), quiet=_jpeg(quiet), sighting=sighting)


def push_frame(
    request: playwright_sync.APIRequestContext,
    server: CameraServer,
    camera: str,
    jpeg: bytes,
    taken_at: datetime | None = None,
) -> dict[str, object]:
    """POST one frame to ``camera`` as the operator's API key; the parsed answer."""
    multipart: dict[str, object] = {
        "image": {"name": "frame.jpg", "mimeType": "image/jpeg", "buffer": jpeg}
    }
    if taken_at is not None:
        multipart["taken_at"] = taken_at.isoformat()
    response = request.post(
        f"{server.url}/v1/cameras/{camera}/frames",
        multipart=multipart,
        headers={"X-API-Key": server.api_key},
        timeout=60_000,
    )
    assert response.ok, f"{response.status} {response.text()}"
    body: dict[str, object] = response.json()
    return body


def end_frames(
    request: playwright_sync.APIRequestContext, server: CameraServer, camera: str
) -> None:
    """End the camera's pushed stream: its crowd buckets and visits are written."""
    response = request.post(
        f"{server.url}/v1/cameras/{camera}/frames/end",
        headers={"X-API-Key": server.api_key},
        timeout=60_000,
    )
    assert response.ok, f"{response.status} {response.text()}"


def unreadable_video(folder: Path) -> Path:
    """A file named like a video that is not one."""
    path = folder / "corrupt.mp4"
    path.write_bytes(b"this is not a video" * 100)
    return path


__all__ = [
    "CAMERA_USERS",
    "EXTRA_USERS",
    "WATCHLIST",
    "CameraServer",
    "Frames",
    "cam_console",
    "camera_server",
    "end_frames",
    "frames",
    "push_frame",
    "second_tab",
    "unreadable_video",
]


@pytest.fixture
def cam_console(
    browser: playwright_sync.Browser, camera_server: CameraServer, request: pytest.FixtureRequest
) -> Iterator[Console]:
    """A fresh browser tab on the camera server's console (as ``console`` in conftest.py)."""
    with open_tab(browser, camera_server.url, request) as tab:
        yield tab


def second_tab(
    browser: playwright_sync.Browser, server: CameraServer
) -> AbstractContextManager[Console]:
    """Another person's browser (a context of its own) on the camera server's console."""
    return open_tab(browser, server.url, None)
