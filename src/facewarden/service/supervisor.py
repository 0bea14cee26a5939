"""The ingest supervisor: a long-running process's share of the deployment's cameras.

Every ``rebalance_seconds`` an :class:`IngestSupervisor` lists the cameras
that have a source and decides which of them this process runs: on
PostgreSQL each live worker keeps to its fair share, on SQLite one host runs
every camera (:mod:`facewarden.service.camera_claims`).

A camera newly held gets a runner thread (one per camera, isolated: a
camera that fails never stops the others; a stream that drops reconnects
with backoff in :class:`~facewarden.vision.sources.StreamSource`); a camera
to be released is stopped first (its source stopped, its thread joined, its
visits and progress written) and only then released. A camera whose runner
ended in an error is retried after ``retry_seconds``.

**Resuming files**: a file source's progress is kept as it goes, and a
worker taking the camera over resumes from there (see
:mod:`facewarden.service.file_progress`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from facewarden.errors import FacewardenError
from facewarden.service.camera_claims import Claims, connect_claims
from facewarden.service.camera_states import (
    PUBLISH_EVERY,
    VALID_FOR,
    SharedState,
    publish,
    stored_error,
)
from facewarden.service.file_progress import CameraProgress, Resumed
from facewarden.service.frames import FrameProcessor, FrameResult
from facewarden.service.ingest import CameraStatus, watch
from facewarden.service.stream_hosts import check_stream_host, stream_targets
from facewarden.vision.people import BodyDetector
from facewarden.vision.sources import FileSource, open_source, redact_url

if TYPE_CHECKING:
    from facewarden.service.warden import Warden

__all__ = ["CameraProgress", "IngestSupervisor", "default_worker_id"]

logger = logging.getLogger(__name__)

_FINAL = ("error", "failed", "ended", "stopped")  # states a camera's run ends in

# (event, camera id): "claimed" or "released", told as it happens.
ClaimListener = Callable[[str, str], None]


def default_worker_id() -> str:
    """``<host>:<pid>``: unique among the live workers of a deployment."""
    return f"{socket.gethostname()}:{os.getpid()}"


# -- the runners ---------------------------------------------------------------------


@dataclass
class _Runner:
    camera_id: str
    source_uri: str
    status: CameraStatus
    thread: threading.Thread | None = None
    source: Resumed | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    finished_at: float | None = None


class IngestSupervisor:
    """Runs this process's share of the deployment's cameras until stopped.

    Args:
        warden: the open deployment (each camera acts as ``camera:<name>``).
        worker_id: unique among live workers (default ``<host>:<pid>``).
        fps_budget: frames per second processed per camera.
        rebalance_seconds: how often cameras are listed and claims reviewed
            (with PostgreSQL, the take-over bound for a dead worker's cameras).
        progress_seconds: how often (of video time) a file's progress and
            live visits are written.
        retry_seconds: a camera whose runner failed is started again after this.
        max_attempts: a stream that cannot be opened this many times in a row
            is given up until the retry (None: retry forever with backoff).
        realtime: hand video files out no faster than their own time, as a
            camera would (demonstrations and tests).
        people: a body detector for crowd counts, or None.
        on_claim: told ``("claimed" | "released", camera id)`` as it happens.
    """

    def __init__(
        self,
        warden: Warden,
        *,
        worker_id: str | None = None,
        fps_budget: float = 5.0,
        rebalance_seconds: float = 2.0,
        progress_seconds: float = 2.0,
        retry_seconds: float = 30.0,
        max_attempts: int | None = None,
        realtime: bool = False,
        people: BodyDetector | None = None,
        on_claim: ClaimListener | None = None,
        join_seconds: float = 30.0,
    ) -> None:
        self._warden = warden
        self.worker_id = worker_id or default_worker_id()
        self._fps = fps_budget
        self._period = rebalance_seconds
        self._progress_every = progress_seconds
        self._retry = retry_seconds
        self._max_attempts = max_attempts
        self._realtime = realtime
        self._people = people
        self._on_claim = on_claim
        self._join = join_seconds
        self._claims: Claims | None = None
        self._runners: dict[str, _Runner] = {}
        self._held: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._loop_thread: threading.Thread | None = None
        self.rounds = 0
        self._shown: dict[str, tuple[str, str | None]] = {}
        self._published: datetime | None = None

    def __repr__(self) -> str:
        return f"IngestSupervisor({self.worker_id!r}, holding={sorted(self._held)})"

    # -- public ---------------------------------------------------------------------

    @property
    def held(self) -> frozenset[str]:
        """The cameras (ids) this process holds now."""
        return self._held

    def start(self) -> None:
        """Connect the claims, run a first round, then keep rebalancing in a thread.

        Raises:
            DatabaseUnavailableError: PostgreSQL cannot be reached.
            FacewardenError: another live worker uses this worker id.
        """
        if self._loop_thread is not None:
            raise FacewardenError("this supervisor was started already")
        self._claims = connect_claims(self._warden.settings, self.worker_id)
        try:
            self._round()
        except BaseException:
            self.stop()
            raise
        self._loop_thread = threading.Thread(
            target=self._loop, name=f"ingest-supervisor {self.worker_id}", daemon=True
        )
        self._loop_thread.start()

    def stop(self) -> None:
        """Stop every camera (their progress written), release the claims; idempotent."""
        self._stop.set()
        if self._loop_thread is not None and self._loop_thread is not threading.current_thread():
            self._loop_thread.join()
        for camera_id in sorted(self._runners):
            self._stop_runner(camera_id)
        self._unpublish(self._held)  # while still held: no new runner has published yet
        claims, self._claims = self._claims, None
        if claims is not None:
            claims.close()
        released = self._held
        self._held = frozenset()
        for camera_id in sorted(released):
            logger.info("worker %s released camera %s", self.worker_id, camera_id)
            self._tell("released", camera_id)

    def states(self) -> dict[str, CameraStatus]:
        """The status of each camera this process holds, keyed by camera id."""
        with self._lock:
            return {
                camera_id: self._refreshed(runner)
                for camera_id, runner in self._runners.items()
                if camera_id in self._held
            }

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` (True) or ``timeout`` seconds (False)."""
        return self._stop.wait(timeout)

    def __enter__(self) -> IngestSupervisor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the loop -------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self._round()
            except Exception:  # the loop must outlive any one round's fault
                logger.exception("ingest supervisor round failed")

    def _round(self) -> None:
        self.rounds += 1
        if self._claims is None:
            try:
                self._claims = connect_claims(self._warden.settings, self.worker_id)
            except FacewardenError as exc:
                logger.warning("worker %s cannot claim cameras: %s", self.worker_id, exc)
                return
        try:
            cameras = self._warden.cameras.sources()
        except FacewardenError as exc:
            logger.warning("worker %s cannot list cameras: %s", self.worker_id, exc)
            return
        try:
            held = self._claims.rebalance(sorted(cameras), self._before_release)
        except FacewardenError as exc:
            # The claims' session is in doubt (its locks may be gone): stop everything
            # now, drop the session, and claim afresh at the next round.
            logger.warning(
                "worker %s lost its claims (%s); stopping its cameras", self.worker_id, exc
            )
            self._drop_all()
            return
        for camera_id in sorted(held - self._held):
            logger.info("worker %s claimed camera %s", self.worker_id, camera_id)
            self._tell("claimed", camera_id)
        self._held = held
        for camera_id in sorted(held):
            source = cameras.get(camera_id)
            if source is not None:
                self._ensure_running(camera_id, source)
        self._publish()

    def _publish(self) -> None:
        """Publish the states of the cameras held (:mod:`~facewarden.service.camera_states`):
        at once when one changed, else every :data:`PUBLISH_EVERY`."""
        with self._lock:
            runners = [
                (camera_id, runner.source_uri, self._refreshed(runner))
                for camera_id, runner in self._runners.items()
                if camera_id in self._held
            ]
        shown = {camera_id: (status.state, status.error) for camera_id, _, status in runners}
        now = self._warden.clock()
        if shown == self._shown and self._published and now - self._published < PUBLISH_EVERY:
            return
        # Valid for several rounds: a round late is no reason to show the camera idle.
        until = now + max(VALID_FOR, 3 * timedelta(seconds=self._period))
        states = {
            camera_id: SharedState(
                status.state,
                stored_error(status.error, uri),
                status.frames,
                status.sightings,
                False,
                until,
            )
            for camera_id, uri, status in runners
        }
        if publish(self._warden, states):
            self._shown, self._published = shown, now

    def _unpublish(self, cameras: frozenset[str]) -> None:
        """Withdraw the published states of ``cameras`` (this process stops running them)."""
        now = self._warden.clock()
        publish(self._warden, {c: SharedState("idle", None, 0, 0, False, now) for c in cameras})

    def _drop_all(self) -> None:
        for camera_id in sorted(self._runners):
            self._stop_runner(camera_id)
        claims, self._claims = self._claims, None
        if claims is not None:
            claims.close()
        for camera_id in sorted(self._held):
            logger.info("worker %s released camera %s", self.worker_id, camera_id)
            self._tell("released", camera_id)
        self._held = frozenset()

    def _before_release(self, camera_id: str) -> bool:
        if not self._stop_runner(camera_id):
            logger.error(
                "camera %s did not stop within %.0f s; keeping its claim", camera_id, self._join
            )
            return False
        self._unpublish(frozenset({camera_id}))
        self._held = self._held - {camera_id}
        logger.info("worker %s released camera %s", self.worker_id, camera_id)
        self._tell("released", camera_id)
        return True

    def _tell(self, event: str, camera_id: str) -> None:
        if self._on_claim is not None:
            try:
                self._on_claim(event, camera_id)
            except Exception:
                logger.exception("claim listener failed")

    def _ensure_running(self, camera_id: str, source: str) -> None:
        runner = self._runners.get(camera_id)
        if runner is not None and runner.source_uri != source:
            # Its source was changed: start afresh (once the old runner stopped).
            if not self._stop_runner(camera_id):
                return
            runner = None
        if runner is not None:
            alive = runner.thread is not None and runner.thread.is_alive()
            retry_due = (
                runner.status.state in ("error", "failed")
                and runner.finished_at is not None
                and time.monotonic() - runner.finished_at >= self._retry
            )
            if alive or not retry_due:
                return
        status = CameraStatus(camera_id, worker=self.worker_id)
        runner = _Runner(camera_id, source, status)
        runner.thread = threading.Thread(
            target=self._run, args=(runner,), name=f"camera-{camera_id}", daemon=True
        )
        with self._lock:
            self._runners[camera_id] = runner
        runner.thread.start()

    def _stop_runner(self, camera_id: str) -> bool:
        """Stop a camera's runner and wait for it; False if it would not stop in time."""
        runner = self._runners.get(camera_id)
        if runner is None:
            return True
        runner.stopping.set()
        with self._lock:
            if runner.source is not None:
                runner.source.stop()
        if runner.thread is not None:
            runner.thread.join(self._join)
            if runner.thread.is_alive():
                return False
        with self._lock:
            self._runners.pop(camera_id, None)
        return True

    @staticmethod
    def _refreshed(runner: _Runner) -> CameraStatus:
        status = runner.status
        if runner.source is not None and status.state not in _FINAL:
            # A source's own end is not taken up here: the runner says so once
            # it has stored the file's final progress, so "ended" is durable.
            if runner.source.state not in _FINAL:
                status.state = runner.source.state
            status.error = getattr(runner.source.inner, "last_error", None)
        return status

    # -- one camera -----------------------------------------------------------------

    def _run(self, runner: _Runner) -> None:
        status = runner.status
        try:
            self._process(runner)
        except FacewardenError as exc:
            logger.warning("camera %s: %s", runner.camera_id, exc.message)
            with self._lock:
                status.state, status.error = "error", exc.message
        except Exception as exc:  # one camera's fault must not stop the others
            logger.exception("camera %s failed", runner.camera_id)
            with self._lock:
                status.state, status.error = "error", f"{type(exc).__name__}: {exc}"
        finally:
            runner.finished_at = time.monotonic()

    def _resume_point(self, runner: _Runner, is_file: bool) -> CameraProgress | None:
        """Where to start: the stored progress of a file, a fresh start, or None (done)."""
        warden, camera_id = self._warden, runner.camera_id
        progress = CameraProgress.load(warden, camera_id) if is_file else None
        digest = warden.cameras.source_digest(runner.source_uri)
        if progress is not None and progress.source == CameraProgress.legacy_digest(
            runner.source_uri
        ):
            progress = replace(progress, source=digest)  # stored before digests were keyed
        if progress is not None and progress.source != digest:
            progress = None  # progress on another file
        if progress is None:
            progress = CameraProgress(digest, warden.clock(), 0.0, worker=self.worker_id)
            if is_file:
                progress.save(warden, camera_id)
            return progress
        if progress.ended:
            with self._lock:
                runner.status.state, runner.status.position = "ended", progress.seconds
            logger.info(
                "camera %s: %s was processed to its end", camera_id, redact_url(runner.source_uri)
            )
            return None
        logger.info(
            "camera %s: worker %s resumes %s at %.2f s",
            camera_id,
            self.worker_id,
            redact_url(runner.source_uri),
            progress.seconds,
        )
        return progress

    def _process(self, runner: _Runner) -> None:
        warden, camera_id, status = self._warden, runner.camera_id, runner.status
        camera = warden.cameras.get(camera_id)
        # Judged again as it is opened: a name may resolve elsewhere now, and a
        # camera may have been stored before hosts were judged.
        check_stream_host(runner.source_uri, warden.settings.camera_allowed_networks)
        raw = open_source(
            runner.source_uri,
            fps_budget=self._fps,
            max_attempts=self._max_attempts,
            connect_to=partial(stream_targets, allowed=warden.settings.camera_allowed_networks),
        )
        is_file = isinstance(raw, FileSource)
        start = self._resume_point(runner, is_file)
        if start is None:
            return
        t0, uri = start.t0, start.source
        after = start.seconds if start.seconds > 0 else None
        source = Resumed(raw, after, self._realtime)
        with self._lock:
            runner.source = source
            status.position = start.seconds if is_file else None
        if runner.stopping.is_set():
            source.stop()
        actor = warden.with_actor(f"camera:{camera.name}")
        every = timedelta(seconds=self._progress_every)
        threshold = warden.settings.occupancy_threshold
        processor = FrameProcessor(
            actor,
            camera_id,
            people=self._people,
            sync_every=every,
            alert=None if threshold is None else warden.crowd.occupancy_alert(threshold),
        )
        saved = position = start.seconds

        def on_frame(result: FrameResult) -> None:
            nonlocal saved, position
            position = (result.when - t0).total_seconds()
            with self._lock:
                status.frames += 1
                status.sightings += len(result.new_sightings)
                if is_file:
                    status.position = position
            if is_file and position - saved >= self._progress_every:
                CameraProgress(uri, t0, position, worker=self.worker_id).save(warden, camera_id)
                saved = position

        watch(actor, camera_id, source, start=t0, processor=processor, on_frame=on_frame)
        ended = source.state == "ended"
        if is_file:
            CameraProgress(uri, t0, position, ended=ended, worker=self.worker_id).save(
                warden, camera_id
            )
        with self._lock:
            status.state = "failed" if source.state == "failed" else source.state
            status.error = getattr(raw, "last_error", None)
        logger.info(
            "camera %s: worker %s %s at %.2f s", camera_id, self.worker_id, status.state, position
        )
