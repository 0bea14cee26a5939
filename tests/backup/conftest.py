"""Fixtures of the backup tests: the johns' faces, and a new deployment on each store."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from facewarden.config import Settings
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.types import Face
from facewarden.vision.pipeline import MODES

from ._deployments import Deploy


@pytest.fixture(scope="session")
def johns(faces_dir: Path) -> dict[str, list[list[Face]]]:
    """Each john's first four photos, faces found once by the fast pipeline."""
    pipeline = MODES["fast"]
    people = {}
    for folder in sorted((faces_dir / "dlib" / "examples" / "johns").iterdir()):
        photos = sorted(folder.glob("*.jpg"))[:4]
        people[folder.name] = [pipeline.run(pipeline.decode(p)) for p in photos]
    return people


@pytest.fixture(params=["sqlite", "postgres"])
def deploy(request: pytest.FixtureRequest) -> Deploy:
    """``deploy(root)``: settings of a new deployment under ``root`` on the store under test."""
    if request.param == "sqlite":
        return lambda root: Settings(
            data_dir=root / "data", key_dir=root / "keys", workers=1, enroll_mode="fast"
        )
    server: EmbeddedPostgres = request.getfixturevalue("pg_server")
    return lambda root: Settings(
        data_dir=root / "data",
        key_dir=root / "keys",
        workers=1,
        enroll_mode="fast",
        database_url=server.create_database(f"bk_{secrets.token_hex(6)}"),
    )
