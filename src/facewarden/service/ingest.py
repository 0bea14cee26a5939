"""Ingest: run cameras' sources through frame processors, one thread per camera.

:func:`watch` processes one source to its end (``facewarden watch`` on a
file). :class:`IngestWorker` runs several cameras at once; each camera has
a :class:`CameraStatus` (``starting``, ``live``, ``reconnecting``,
``unreachable``, ``error`` with its message, ``ended``, ``stopped``) that
the console shows, and a camera that fails never stops the others.
A long-running process's share of the deployment's cameras (claimed through
the database, resumed where another worker left off) is run by
:class:`~facewarden.service.supervisor.IngestSupervisor` (``facewarden worker``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from facewarden.errors import FacewardenError
from facewarden.service.frames import FrameProcessor, FrameResult
from facewarden.service.stream_hosts import check_stream_host, stream_targets
from facewarden.vision.people import BodyDetector
from facewarden.vision.sources import FileSource, FrameSource, StreamSource, open_source

if TYPE_CHECKING:
    from facewarden.service.warden import Warden

__all__ = ["CameraStatus", "IngestWorker", "WatchSummary", "watch"]

logger = logging.getLogger(__name__)


@dataclass
class WatchSummary:
    """What processing a source gave."""

    frames: int = 0
    faces: int = 0
    sightings: list[str] = field(default_factory=list)
    identifications: int = 0
    visitors: int = 0
    skipped: int = 0


def watch(
    warden: Warden,
    camera: str,
    source: FrameSource,
    *,
    start: datetime | None = None,
    people: BodyDetector | None = None,
    on_frame: Callable[[FrameResult], None] | None = None,
    processor: FrameProcessor | None = None,
) -> WatchSummary:
    """Process ``source`` for ``camera`` until it ends or is stopped.

    Args:
        warden: the open deployment.
        camera: name or id.
        source: the frames.
        start: the wall time of the source's time zero (default: now).
        people: a body detector for crowd counts, or None.
        on_frame: called after each frame (progress, tests).
        processor: a prepared processor (default: a fresh one for ``camera``).
    """
    processor = processor or FrameProcessor(warden, camera, people=people)
    t0 = start or warden.clock()
    summary = WatchSummary()
    when = t0
    try:
        for frame in source.frames():
            when = t0 + timedelta(seconds=frame.seconds)
            result = processor.process(frame.image, when)
            summary.frames += 1
            summary.faces += result.faces
            summary.sightings.extend(result.new_sightings)
            if on_frame is not None:
                on_frame(result)
    finally:
        processor.finish(when)
    summary.identifications = processor.identifications
    summary.visitors = processor.crowd.visitors
    summary.skipped = getattr(source, "skipped", 0) + getattr(source, "dropped", 0)
    return summary


@dataclass
class CameraStatus:
    """The state of one camera in a worker, for the console.

    ``worker`` names the worker process running it and ``position`` is how
    far into a video file it is (seconds; None for a stream), where an
    :class:`~facewarden.service.supervisor.IngestSupervisor` runs it.
    """

    camera: str
    state: str = "starting"
    error: str | None = None
    frames: int = 0
    sightings: int = 0
    worker: str | None = None
    position: float | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "camera": self.camera,
            "state": self.state,
            "error": self.error,
            "frames": self.frames,
            "sightings": self.sightings,
            "worker": self.worker,
            "position": None if self.position is None else round(self.position, 2),
        }


class IngestWorker:
    """Runs the sources of several cameras, one thread each, isolated from each other.

    Args:
        warden: the open deployment (each camera acts as ``camera:<name>``).
        cameras: names or ids; each needs a ``source``.
        fps_budget: frames per second processed per camera.
        max_attempts: a stream that cannot be opened this many times in a
            row is given up (None: retry forever with backoff).
        people: a body detector for crowd counts, or None.
    """

    def __init__(
        self,
        warden: Warden,
        cameras: Sequence[str],
        *,
        fps_budget: float = 5.0,
        max_attempts: int | None = None,
        people: BodyDetector | None = None,
    ) -> None:
        self._warden = warden
        self._fps = fps_budget
        self._max_attempts = max_attempts
        self._people = people
        self.status = {c: CameraStatus(c) for c in cameras}
        self._sources: dict[str, FrameSource] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self) -> None:
        """Start one thread per camera."""
        for name in self.status:
            thread = threading.Thread(target=self._run, args=(name,), name=f"camera-{name}")
            thread.daemon = True
            thread.start()
            self._threads.append(thread)

    def states(self) -> dict[str, CameraStatus]:
        """Each camera's status, refreshed from its source."""
        with self._lock:
            for name, source in self._sources.items():
                status = self.status[name]
                if status.state not in ("error", "ended", "stopped"):
                    status.state = source.state
                    status.error = getattr(source, "last_error", None)
        return dict(self.status)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every camera and wait for the threads."""
        self._stopping.set()
        with self._lock:
            for source in self._sources.values():
                source.stop()
        for thread in self._threads:
            thread.join(timeout)

    def _run(self, name: str) -> None:
        status = self.status[name]
        try:
            camera = self._warden.cameras.get(name)
            if not camera.source:
                raise FacewardenError(f"camera {name!r} has no source")
            # Judged again as it is opened: a name may resolve elsewhere now.
            check_stream_host(camera.source, self._warden.settings.camera_allowed_networks)
            source: FileSource | StreamSource = open_source(
                camera.source,
                fps_budget=self._fps,
                max_attempts=self._max_attempts,
                connect_to=partial(
                    stream_targets, allowed=self._warden.settings.camera_allowed_networks
                ),
            )
            with self._lock:
                self._sources[name] = source
            if self._stopping.is_set():
                source.stop()
            actor = self._warden.with_actor(f"camera:{camera.name}")

            def progress(result: FrameResult) -> None:
                status.frames += 1
                status.sightings += len(result.new_sightings)

            watch(actor, camera.camera_id, source, people=self._people, on_frame=progress)
            with self._lock:
                status.state = "failed" if source.state == "failed" else source.state
                status.error = getattr(source, "last_error", None)
        except FacewardenError as exc:
            with self._lock:
                status.state, status.error = "error", exc.message
        except Exception as exc:  # one camera's fault must not stop the others
            logger.exception("camera %s failed", name)
            with self._lock:
                status.state, status.error = "error", f"{type(exc).__name__}: {exc}"
