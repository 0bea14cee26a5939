"""Shared fixtures: where the real test photos live, and skipping when they don't."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (a fresh clone without ../shared); CI has it")
    return path


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """``../shared/data/faces``: real photos, described in its README."""
    return _require(SHARED_DATA / "faces")


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    """``../shared/data/lfw-fold1``: one real LFW View 2 fold."""
    return _require(SHARED_DATA / "lfw-fold1")
