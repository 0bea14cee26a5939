"""The store fixtures: every backend the contract runs against.

Every backend in ``BACKENDS`` passes ``test_contract.py`` unchanged:
SQLite in a temporary folder, PostgreSQL in a fresh database on the
session's throwaway server (the ``pg_server`` fixture).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from facewarden.store import Store, open_sqlite
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.store.postgres import open_postgres

OpenStore = Callable[[], Store]
Restore = Callable[[], Store]


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    path = tmp_path / "data" / "facewarden.db"
    return lambda: open_sqlite(path, create=True)


def _sqlite_backup(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Restore]:
    path = tmp_path / "backup" / "copy.db"
    path.parent.mkdir()
    return str(path), lambda: open_sqlite(path)


def _postgres(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    server: EmbeddedPostgres = request.getfixturevalue("pg_server")
    url = server.create_database(f"t_{secrets.token_hex(6)}")
    return lambda: open_postgres(url, create=True)


def _postgres_backup(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Restore]:
    server: EmbeddedPostgres = request.getfixturevalue("pg_server")
    url = server.url(f"b_{secrets.token_hex(6)}")
    return url, lambda: open_postgres(url)


#: backend -> how to open a fresh store of it (the server is started only if used)
BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], OpenStore]] = {
    "postgres": _postgres,
    "sqlite": _sqlite,
}
#: backend -> (a backup destination, how to open what was written there)
BACKUPS: dict[str, Callable[[pytest.FixtureRequest, Path], tuple[str, Restore]]] = {
    "postgres": _postgres_backup,
    "sqlite": _sqlite_backup,
}


@pytest.fixture(params=sorted(BACKENDS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens the store under test; call it again to reopen the same data."""
    opened: list[Store] = []
    open_backend = BACKENDS[request.param](request, tmp_path)

    def factory() -> Store:
        store = open_backend()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def backup_target(
    request: pytest.FixtureRequest, open_store: OpenStore, tmp_path: Path
) -> tuple[str, Restore]:
    """Where the store under test writes a backup, and how to open it."""
    backend = request.node.callspec.params["open_store"]
    return BACKUPS[backend](request, tmp_path)


@pytest.fixture
def store(open_store: OpenStore) -> Store:
    """A fresh, empty store of each backend."""
    return open_store()
