"""Cameras shared out among worker processes through PostgreSQL advisory locks.

Every ingest worker (on any host) opens a :class:`CameraClaims` on the
deployment's database. A camera is *claimed* by holding a session-level
advisory lock keyed by its id; the lock lives exactly as long as the
worker's connection, so:

* **no camera is processed twice at once**: the server grants each lock to
  one session only (``pg_try_advisory_lock`` never waits, never doubles);
* **a dead worker's cameras are taken over**: when its process dies, the
  server sees the connection close and drops its locks at once; a worker
  that is cut off rather than dead is dropped once TCP keepalives give up
  (:func:`~facewarden.store._pg_admin.connect` bounds that to about 25 s), and the
  survivors pick the cameras up at their next :meth:`CameraClaims.rebalance`
  (call it every few seconds: the take-over bound is that period plus the
  keepalive bound);
* **the load is shared**: each worker also holds a lock announcing itself,
  so every worker can count the live ones and keep to its fair share
  (``ceil(cameras / workers)``), releasing extras for newcomers.

No table is needed: the locks are the whole state, and they vanish with the
sessions that held them. Keys are two 32-bit integers: a fixed namespace
(cameras or workers) and ``hashtext`` of the id. Two ids with the same hash
would share a lock (one camera waiting for the other's worker): harmless,
and rare among a deployment's cameras.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

import psycopg

from facewarden.errors import FacewardenError
from facewarden.store._dialect import POSTGRES, PgRow
from facewarden.store._pg_admin import connect

__all__ = ["CameraClaims"]

logger = logging.getLogger(__name__)

CAMERA_NS = 0x66776361  # "fwca"
WORKER_NS = 0x6677776B  # "fwwk"
_TRY_LOCK = "SELECT pg_try_advisory_lock(%s, hashtext(%s)) AS v"
_UNLOCK = "SELECT pg_advisory_unlock(%s, hashtext(%s)) AS v"


class CameraClaims:
    """One worker's claims on cameras; its own connection carries its locks.

    Args:
        url: the deployment's PostgreSQL URL.
        worker_id: unique per worker process (host and pid, say).
        announce: count as an ingest worker in the others' fair shares (a server
            claiming only the cameras it is pushed frames of does not).
    """

    def __init__(self, url: str, worker_id: str, *, announce: bool = True) -> None:
        self.worker_id = worker_id
        self._held: set[str] = set()
        self._conn: psycopg.Connection[PgRow] | None = connect(
            url, application_name=f"facewarden-worker {worker_id}"
        )
        try:
            ok = not announce or self._ask("announce worker", _TRY_LOCK, (WORKER_NS, worker_id))
        except BaseException:
            self.close()  # a supervisor retries every round: no connection left per failure
            raise
        if not ok:
            self.close()
            raise FacewardenError(f"another live worker already calls itself {worker_id!r}")

    def __repr__(self) -> str:
        return f"CameraClaims({self.worker_id!r}, holding={sorted(self._held)})"

    def _ask(self, where: str, sql: str, params: tuple[Any, ...]) -> Any:
        """The value ``v`` of a one-row query on this worker's connection."""
        if self._conn is None:
            raise FacewardenError("these camera claims are closed")
        with POSTGRES.translated(where):
            row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row["v"]

    @property
    def held(self) -> frozenset[str]:
        """The cameras this worker holds now."""
        return frozenset(self._held)

    def live_workers(self) -> int:
        """How many workers are connected now (this one included)."""
        count = self._ask(
            "count workers",
            "SELECT count(*) AS v FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s::bigint::oid "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (WORKER_NS,),
        )
        return max(1, int(count or 0))

    def check(self) -> None:
        """Raise :class:`~facewarden.errors.DatabaseUnavailableError` if this session (and
        with it every claim it held) is gone."""
        self._ask("check claims", "SELECT 1 AS v", ())

    def try_claim(self, camera_id: str) -> bool:
        """Claim one camera if no live worker holds it; True when this worker holds it."""
        if camera_id in self._held:
            return True
        if self._ask("claim camera", _TRY_LOCK, (CAMERA_NS, camera_id)):
            self._held.add(camera_id)
            logger.debug("worker %s claimed camera %s", self.worker_id, camera_id)
            return True
        return False

    def release(self, camera_id: str) -> None:
        """Stop holding a camera (another worker may claim it at once)."""
        if camera_id not in self._held:
            return
        self._ask("release camera", _UNLOCK, (CAMERA_NS, camera_id))
        self._held.discard(camera_id)
        logger.debug("worker %s released camera %s", self.worker_id, camera_id)

    def rebalance(
        self,
        cameras: Iterable[str],
        before_release: Callable[[str], bool] | None = None,
    ) -> frozenset[str]:
        """Keep to this worker's fair share of ``cameras``: release extras, claim free ones.

        Cameras no longer in the list are released. ``before_release`` is
        called with each camera about to be released, while it is still held
        (stop processing it there); when it returns False the camera is kept
        this time (its processing did not stop yet). Returns what is held after.
        """
        wanted = sorted(set(cameras))

        def drop(camera_id: str) -> None:
            if before_release is None or before_release(camera_id):
                self.release(camera_id)

        for camera_id in sorted(self._held - set(wanted)):
            drop(camera_id)
        share = math.ceil(len(wanted) / self.live_workers()) if wanted else 0
        for camera_id in sorted(self._held, reverse=True)[: max(0, len(self._held) - share)]:
            drop(camera_id)
        for camera_id in wanted:
            if len(self._held) >= share:
                break
            self.try_claim(camera_id)
        return self.held

    def close(self) -> None:
        """Release everything (closing the session drops its locks); idempotent."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._held.clear()
