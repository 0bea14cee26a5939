"""How far a camera's video file was processed, and a source that resumes from there.

A file source's progress (the media position and the wall-clock time its
time zero maps to) is kept by the ingest supervisor
(:mod:`facewarden.service.supervisor`) in the store's meta table
(``camera_progress:<camera id>``) every ``progress_seconds`` of video; a
worker taking the camera over resumes from there with the same time zero, so
sightings keep their times, and a file processed to its end is not processed
again. The few seconds gone over twice do not record visits twice: live
visits are written every ``progress_seconds`` too, and
:meth:`~facewarden.service.sighting_visits.SightingVisits.open_visit`
continues a stored visit of the same subject at the same camera instead of
opening a second. (Crowd counts of the minute resumed in are those of the
resuming worker.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from facewarden.privacy.crypto import Envelope
from facewarden.vision.sources import Frame, FrameSource

if TYPE_CHECKING:
    from facewarden.service.warden import Warden

__all__ = ["PROGRESS_KEY", "CameraProgress", "Resumed"]

# The supervisor's messages (an unreadable progress) stay under its logger's name.
logger = logging.getLogger("facewarden.service.supervisor")

PROGRESS_KEY = "camera_progress:"
_DIGEST_KIND = "camera_source"


@dataclass(frozen=True)
class CameraProgress:
    """How far a camera's video file was processed, kept in the store's meta table.

    ``t0`` is the wall-clock time the video's time zero maps to (sightings
    and crowd buckets are dated from it); ``seconds`` the media position of
    the last frame processed; ``ended`` once the file was processed to its
    end. ``source`` is a keyed digest of the file it is about (a source may
    be a secret: it is stored sealed, never in the clear): progress on
    another file does not apply. It goes with its camera.
    """

    source: str
    t0: datetime
    seconds: float = 0.0
    ended: bool = False
    worker: str | None = None

    @staticmethod
    def digest(envelope: Envelope, uri: str) -> str:
        """What progress keeps of a source: a keyed digest, not the path.

        Keyed (the deployment's blind-index key), so that whoever holds the
        database cannot confirm a guess of a path that names a place. The
        source goes in as hex, which the blind index's normalisation (made
        for ID numbers: it drops punctuation) leaves one-to-one.
        """
        return envelope.blind_index(uri.encode().hex(), kind=_DIGEST_KIND)[:32]

    @staticmethod
    def legacy_digest(uri: str) -> str:
        """The unkeyed digest progress stored before: read, to resume, never written."""
        return hashlib.sha256(uri.encode()).hexdigest()[:32]

    @staticmethod
    def key(camera_id: str) -> str:
        """The meta key of a camera's progress."""
        return PROGRESS_KEY + camera_id

    @classmethod
    def load(cls, warden: Warden, camera_id: str) -> CameraProgress | None:
        """The camera's stored progress, or None (none, or unreadable)."""
        raw = warden.store.get_meta(cls.key(camera_id))
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return cls(
                str(data["source"]),
                datetime.fromisoformat(data["t0"]),
                float(data["seconds"]),
                bool(data["ended"]),
                data.get("worker"),
            )
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring unreadable progress of camera %s", camera_id)
            return None

    def save(self, warden: Warden, camera_id: str) -> None:
        """Store it (one small write)."""
        value = json.dumps(
            {
                "source": self.source,
                "t0": self.t0.isoformat(),
                "seconds": round(self.seconds, 6),
                "ended": self.ended,
                "worker": self.worker,
            }
        )
        with warden.store.transaction() as tx:
            tx.set_meta(self.key(camera_id), value)


class Resumed:
    """A source that skips frames up to ``after`` (seconds) and, with ``realtime``,
    hands files out no faster than their own time (as a camera would)."""

    def __init__(self, inner: FrameSource, after: float | None, realtime: bool) -> None:
        self.inner = inner
        self._after = after
        self._realtime = realtime
        self._stop = threading.Event()
        self.resumed_past = 0

    @property
    def state(self) -> str:
        return self.inner.state

    @property
    def skipped(self) -> int:
        return int(getattr(self.inner, "skipped", 0))

    @property
    def dropped(self) -> int:
        return int(getattr(self.inner, "dropped", 0))

    def stop(self) -> None:
        self._stop.set()
        self.inner.stop()

    def frames(self) -> Iterator[Frame]:
        origin: float | None = None
        frames = self.inner.frames()
        try:
            for frame in frames:
                if self._after is not None and frame.seconds <= self._after + 1e-6:
                    self.resumed_past += 1
                    continue
                if self._realtime:
                    now = time.monotonic()
                    if origin is None:
                        origin = now - frame.seconds
                    elif self._stop.wait(max(0.0, origin + frame.seconds - now)):
                        return
                if self._stop.is_set():
                    return
                yield frame
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()
