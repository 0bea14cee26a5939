"""A deployment on its own embedded PostgreSQL backs up and restores on the command line.

With ``FACEWARDEN_POSTGRES=embedded`` (what ``facewarden serve --postgres
embedded`` uses) the database lives in the data directory's own cluster:
``facewarden restore`` must restore into a new cluster there, as ``backup``
reads from one, not into a SQLite file beside it that the server never reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from _embedded_pg import reachable_folder
from facewarden.cli import cli
from facewarden.config import Settings
from facewarden.service import Warden
from facewarden.store.pg_local import LocalPostgres
from facewarden.store.sqlite import DB_NAME
from facewarden.types import Face

from ._deployments import enroll_all, identify


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder that ``nobody`` (PostgreSQL's user under root) can reach, removed at the end."""
    with reachable_folder("fw-backup-pg-") as folder:
        yield folder


def _settings(data: Path, keys: Path, url: str) -> Settings:
    return Settings(data_dir=data, key_dir=keys, database_url=url, workers=1, enroll_mode="fast")


def test_an_embedded_postgres_deployment_restores_into_its_own_new_cluster(
    base: Path, johns: dict[str, list[list[Face]]]
) -> None:
    keys, live, restored = base / "keys", base / "live", base / "restored"
    with (
        LocalPostgres(live) as local,
        Warden.open(_settings(live, keys, local.url), create=True, actor="test:backup") as warden,
    ):
        ids = enroll_all(warden, johns)
        before = identify(warden, johns)

    def run(data: Path, *args: str) -> object:
        env = {
            "FACEWARDEN_DATA_DIR": str(data),
            "FACEWARDEN_KEY_DIR": str(keys),
            "FACEWARDEN_POSTGRES": "embedded",
        }
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    archive = base / "live.fwbackup"
    made = run(live, "backup", str(archive))
    assert made.exit_code == 0 and "the postgres database" in made.output, made.stderr
    done = run(restored, "restore", str(archive))
    assert done.exit_code == 0, done.stderr
    assert f"{len(ids)} subject(s)" in done.output
    assert not (restored / DB_NAME).exists()
    with (
        LocalPostgres(restored) as local,
        Warden.open(_settings(restored, keys, local.url), actor="test:restored") as warden,
    ):
        assert identify(warden, johns) == before
