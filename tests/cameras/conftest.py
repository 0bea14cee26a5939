"""Fixtures for the camera tests: a fast-mode deployment, enrolled people, synthetic videos."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from facewarden.config import Settings
from facewarden.privacy import ManualClock
from facewarden.service import SubjectRecord, Warden

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def knn(faces_dir: Path) -> Path:
    """face_recognition's knn gallery: one folder of photos per person."""
    return faces_dir / "face_recognition" / "examples" / "knn_examples" / "train"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


LOOPBACK = ("127.0.0.0/8",)
"""Where these tests' stream servers listen: refused to a deployment unless it allows it."""


def make_settings(root: Path, **overrides: object) -> Settings:
    """A deployment under ``root`` identifying in fast mode, its cameras allowed on loopback."""
    values: dict[str, object] = {
        "data_dir": root / "data",
        "key_dir": root / "keys",
        "workers": 1,
        "mode": "fast",
        "enroll_mode": "fast",
        "camera_allowed_networks": LOOPBACK,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture
def warden(tmp_path: Path, clock: ManualClock) -> Iterator[Warden]:
    opened = Warden.open(make_settings(tmp_path), clock=clock, create=True, actor="test:pytest")
    yield opened
    opened.close()


def enroll(warden: Warden, name: str, photo: Path, watchlists: tuple[str, ...]) -> str:
    """Enroll ``name`` from one photo; returns the subject id."""
    record = SubjectRecord(full_name=name, lawful_basis="test")
    return warden.registry.enroll(record, [photo], watchlists=watchlists).subject_id
