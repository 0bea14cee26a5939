"""The store fixtures: every backend the contract runs against.

A later backend (PostgreSQL) is added to ``BACKENDS`` and must pass
``test_contract.py`` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from facewarden.store import Store, open_sqlite

OpenStore = Callable[[], Store]
Restore = Callable[[], Store]


def _sqlite(tmp_path: Path) -> OpenStore:
    path = tmp_path / "data" / "facewarden.db"
    return lambda: open_sqlite(path, create=True)


def _sqlite_backup(tmp_path: Path) -> tuple[str, Restore]:
    path = tmp_path / "backup" / "copy.db"
    path.parent.mkdir()
    return str(path), lambda: open_sqlite(path)


BACKENDS: dict[str, Callable[[Path], OpenStore]] = {"sqlite": _sqlite}
#: backend -> (a backup destination, how to open what was written there)
BACKUPS: dict[str, Callable[[Path], tuple[str, Restore]]] = {"sqlite": _sqlite_backup}


@pytest.fixture(params=sorted(BACKENDS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens the store under test; call it again to reopen the same data."""
    opened: list[Store] = []

    def factory() -> Store:
        store = BACKENDS[request.param](tmp_path)()
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
    return BACKUPS[backend](tmp_path)


@pytest.fixture
def store(open_store: OpenStore) -> Store:
    """A fresh, empty store of each backend."""
    return open_store()
