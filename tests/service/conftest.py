"""Shared fixtures for the service tests: real photos, real deployments in tmp_path.

The pipeline is the real one. Detection and embedding cost about 0.2 s a
face in accurate mode, so each photo is run once per session and the faces
cached; every deployment then protects and stores them with its own keys,
exactly as the worker-process path of bulk enrollment does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from facewarden.config import Settings
from facewarden.privacy import ManualClock
from facewarden.service import Enrollment, SubjectRecord, Warden
from facewarden.types import Face
from facewarden.vision.pipeline import MODES

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

Detect = Callable[[Path, str], list[Face]]
Enroll = Callable[..., Enrollment]


@pytest.fixture(scope="session")
def detect(faces_dir: Path) -> Detect:
    """``detect(path, mode)``: the real pipeline's faces of a photo, computed once a session.

    Depends on the root conftest's ``faces_dir``, which skips without ../shared.
    """
    cache: dict[tuple[Path, str], list[Face]] = {}

    def run(path: Path, mode: str = "accurate") -> list[Face]:
        key = (path, mode)
        if key not in cache:
            pipeline = MODES[mode]
            cache[key] = pipeline.run(pipeline.decode(path))
        return cache[key]

    return run


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def make_settings(root: Path, **overrides: object) -> Settings:
    """Settings for a deployment under ``root`` (data and keys side by side)."""
    return Settings(data_dir=root / "data", key_dir=root / "keys", workers=1, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def warden(settings: Settings, clock: ManualClock) -> Iterator[Warden]:
    """A fresh deployment acting as ``test:pytest``."""
    opened = Warden.open(settings, clock=clock, create=True, actor="test:pytest")
    yield opened
    opened.close()


@pytest.fixture
def enroll(detect: Detect) -> Enroll:
    """``enroll(warden, name, photos, watchlists=(), **record)`` from cached detections."""

    def run(
        warden: Warden,
        name: str,
        photos: Sequence[Path],
        watchlists: Sequence[str] = (),
        **fields: str,
    ) -> Enrollment:
        prepared = [
            warden.registry.prepare_detected(detect(p, "accurate"), source=str(p)) for p in photos
        ]
        record = SubjectRecord(
            full_name=name, lawful_basis=fields.pop("lawful_basis", "test"), **fields
        )
        return warden.registry.enroll_prepared(record, prepared, watchlists=watchlists)

    return run
