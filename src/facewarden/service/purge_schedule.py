"""The retention purge on a schedule, for a long-running process that is not the server.

``facewarden serve`` runs the purge in its own event loop
(:mod:`facewarden.api.app`); :class:`PurgeSchedule` does the same for
``facewarden worker``, in a daemon thread: at once, then every
``purge_interval_minutes``. A site that runs its cameras with workers alone
would otherwise keep every sighting and crowd count it writes (SECURITY.md
promise 11). Several processes purging one database is harmless: each purge
is one transaction, and deletes what the others left.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facewarden.service.warden import Warden

__all__ = ["PurgeSchedule"]

logger = logging.getLogger(__name__)

ACTOR = "system:retention"
"""Who the scheduled purges are audited as."""


class PurgeSchedule:
    """Runs ``warden``'s retention purge at :meth:`start`, then every ``interval`` seconds.

    Args:
        warden: the open deployment (purges are audited as :data:`ACTOR`).
        interval: seconds between purges.
    """

    def __init__(self, warden: Warden, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"a purge interval must be positive, got {interval}")
        self._warden = warden.with_actor(ACTOR)
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the schedule (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="retention-purge", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop it, waiting for a purge under way to finish (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self._warden.purge()
            except Exception:  # a failed purge is retried at the next interval
                logger.exception("the retention purge failed")
            else:
                if report.total:
                    logger.info("retention purge deleted %s", dict(report.deleted))
            self._stop.wait(self._interval)
