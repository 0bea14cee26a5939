"""Who runs which camera: the claims an ingest supervisor holds on the deployment's cameras.

* on **PostgreSQL** through :class:`~facewarden.store.pg_claims.CameraClaims`
  (session advisory locks): each live worker keeps to its fair share, no
  camera is held by two workers at once, and a dead worker's cameras (its
  locks vanish with its connection) are picked up by the others at their
  next round;
* on **SQLite** one host runs every camera: the supervisor holding an
  exclusive lock on ``<data dir>/ingest.lock`` (:class:`HostLock`) runs them
  all, any other idles (and takes over if the first one goes).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from facewarden.config import Settings
from facewarden.errors import FacewardenError
from facewarden.store.postgres import is_postgres_url

__all__ = ["LOCK_NAME", "Claims", "HostLock", "connect_claims"]

LOCK_NAME = "ingest.lock"


class Claims(Protocol):
    """Which cameras this process holds; ``rebalance`` is called every round."""

    def rebalance(
        self, cameras: Iterable[str], before_release: Callable[[str], bool] | None = None
    ) -> frozenset[str]: ...

    def close(self) -> None: ...


class HostLock:
    """SQLite: the supervisor holding ``<data dir>/ingest.lock`` runs every camera."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._held: frozenset[str] = frozenset()

    def _acquire(self) -> bool:
        if self._fd is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise FacewardenError(f"cannot open the ingest lock {self.path}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def rebalance(
        self, cameras: Iterable[str], before_release: Callable[[str], bool] | None = None
    ) -> frozenset[str]:
        wanted = frozenset(cameras)
        kept = set(self._held & wanted)
        for camera_id in sorted(self._held - wanted):
            if before_release is not None and not before_release(camera_id):
                kept.add(camera_id)
        self._held = frozenset(kept | wanted) if self._acquire() else frozenset(kept)
        return self._held

    def close(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        self._held = frozenset()


def connect_claims(settings: Settings, worker_id: str) -> Claims:
    """The claims of ``worker_id`` in the deployment ``settings`` describe.

    Raises:
        DatabaseUnavailableError: PostgreSQL cannot be reached.
        FacewardenError: another live worker uses this worker id, or the
            SQLite ingest lock cannot be opened.
    """
    url = settings.database_url
    if url is not None and is_postgres_url(url):
        from facewarden.store.pg_claims import CameraClaims

        return CameraClaims(url, worker_id)
    return HostLock(settings.data_dir / LOCK_NAME)
