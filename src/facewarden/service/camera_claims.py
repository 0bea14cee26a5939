"""Who runs which camera: the claims an ingest supervisor holds on the deployment's cameras.

* on **PostgreSQL** through :class:`~facewarden.store.pg_claims.CameraClaims`
  (session advisory locks): each live worker keeps to its fair share, no
  camera is held by two workers at once, and a dead worker's cameras (its
  locks vanish with its connection) are picked up by the others at their
  next round;
* on **SQLite** one host runs every camera: the supervisor holding an
  exclusive lock on ``<data dir>/ingest.lock`` (:class:`HostLock`) runs them
  all, any other idles (and takes over if the first one goes).

The frames pushed to a camera over the API are claimed the same way, by the
server they reach (:class:`StreamClaims`): one server at a time tracks them.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from facewarden.config import Settings
from facewarden.errors import FacewardenError
from facewarden.store.pg_claims import CameraClaims
from facewarden.store.postgres import is_postgres_url

__all__ = ["LOCK_NAME", "Claims", "HostLock", "StreamClaims", "connect_claims"]

LOCK_NAME = "ingest.lock"

logger = logging.getLogger(__name__)


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
        return CameraClaims(url, worker_id)
    return HostLock(settings.data_dir / LOCK_NAME)


class StreamClaims:
    """The cameras whose pushed frames this server processes: one server at a time each.

    A pushed stream is tracked in the memory of the server it reaches; two
    servers tracking one camera's frames would each count the same visitors,
    and each follow every other frame. So on PostgreSQL a server claims the
    camera before it opens a stream, as an ingest worker does (a session
    advisory lock on a connection of its own, made at its first claim; it
    does not count as an ingest worker), and releases it when the stream
    ends. A server that dies frees its cameras at once (its connection
    closes); one cut off, once TCP keepalives give up. A claim held is
    checked again at each frame: a session lost (the database restarted)
    is claimed afresh if the camera is still free. On SQLite one server
    serves the database: every claim is granted.
    """

    def __init__(self, settings: Settings, server_id: str) -> None:
        url = settings.database_url
        self._url = url if url is not None and is_postgres_url(url) else None
        self._server_id = server_id
        self._claims: CameraClaims | None = None
        self._lock = threading.Lock()

    def claim(self, camera_id: str) -> bool:
        """Whether this server holds ``camera_id`` now (taken if it was free).

        Raises:
            DatabaseUnavailableError: PostgreSQL cannot be reached.
        """
        if self._url is None:
            return True
        with self._lock:
            if self._claims is not None and camera_id in self._claims.held:
                try:
                    self._claims.check()
                    return True
                except FacewardenError as exc:
                    logger.warning("server %s lost its camera claims: %s", self._server_id, exc)
                    self._close()
            if self._claims is None:
                self._claims = CameraClaims(self._url, self._server_id, announce=False)
            return self._claims.try_claim(camera_id)

    def elsewhere(self, camera_id: str) -> bool:
        """Whether another server holds ``camera_id`` now (one this server holds is not)."""
        if self._url is None:
            return False
        with self._lock:
            if self._claims is not None and camera_id in self._claims.held:
                return False
        if not self.claim(camera_id):
            return True
        self.release(camera_id)
        return False

    def release(self, camera_id: str) -> None:
        """Stop holding ``camera_id`` (another server may take it at once)."""
        with self._lock:
            if self._claims is None:
                return
            try:
                self._claims.release(camera_id)
            except FacewardenError:
                self._close()  # the session is in doubt: its locks go with it

    def close(self) -> None:
        """Release every claim (the server is stopping); idempotent."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        claims, self._claims = self._claims, None
        if claims is not None:
            claims.close()
