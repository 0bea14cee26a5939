"""What one running server shares between requests, and the dependencies that hand it out."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

import anyio
import anyio.to_thread
from fastapi import Request
from starlette.routing import BaseRoute

from facewarden.config import Settings
from facewarden.errors import AuthenticationError, CameraBusyError, FacewardenError
from facewarden.privacy.clock import Clock
from facewarden.service.camera_claims import StreamClaims
from facewarden.service.camera_states import VALID_FOR, SharedState, publish
from facewarden.service.frames import FrameProcessor
from facewarden.service.ingest import CameraStatus
from facewarden.service.ratelimit import AuthLimiter
from facewarden.service.roles import Principal
from facewarden.service.warden import Warden
from facewarden.vision.people import BodyDetector

__all__ = [
    "ANONYMOUS",
    "BUSY_RETRY_SECONDS",
    "IngestStates",
    "PushedStream",
    "ServerState",
    "acting_warden",
    "busy",
    "current_principal",
    "end_stream",
    "image_work",
    "server",
]

T = TypeVar("T")

logger = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 1
"""Retry-After of a frame sent to a server that does not hold its camera: a retry through a
balancer may reach the one that does."""

ANONYMOUS = "anonymous"
"""The actor of what happens before anyone is authenticated (failed sign-ins, bad keys)."""


class IngestStates(Protocol):
    """What runs cameras' sources (an ingest worker or its supervisor), as the API sees it."""

    def states(self) -> Mapping[str, CameraStatus]:
        """Each camera's status, by camera name or id."""
        ...


@dataclass(eq=False)
class PushedStream:
    """A camera's frames pushed over the API: its processor, and where the stream is.

    ``lock`` serialises the stream's frames (a processor takes them in time
    order, one at a time); ``ended`` is set, under the lock, when the stream
    is finished, after which a new frame starts a new stream.
    """

    camera_id: str
    processor: FrameProcessor
    lock: threading.Lock = field(default_factory=threading.Lock)
    last: datetime | None = None
    first: datetime | None = None
    """When its first frame was taken (with ``last`` and ``frames``: its frame rate)."""
    view: tuple[Any, tuple[Any, ...]] | None = field(default=None, repr=False)
    """The latest frame (RGB) and its faces' boxes, for the camera page: memory only."""
    frames: int = 0
    sightings: int = 0
    ended: bool = False
    touched: float = field(default_factory=time.monotonic)
    """When its last frame came (monotonic seconds): an idle stream is ended."""

    @property
    def fps(self) -> float | None:
        """Frames per second of frame time so far (None before two frames a time apart)."""
        if self.first is None or self.last is None or self.frames < 2:
            return None
        seconds = (self.last - self.first).total_seconds()
        return round((self.frames - 1) / seconds, 2) if seconds > 0 else None


@dataclass(eq=False)
class ServerState:
    """The server's shared state: settings, the open deployment, the rate limiters.

    ``warden`` is set when the server starts (the app's lifespan), or given.
    """

    settings: Settings
    limiter: AuthLimiter
    clock: Clock
    warden: Warden | None = None
    owns_warden: bool = False
    routes: list[BaseRoute] = field(default_factory=list)
    """The API's routes, for the auth middleware to find a request's roles before routing."""
    ingest: IngestStates | None = None
    """What runs the cameras' sources, for their state (None: every camera is ``idle``)."""
    people: BodyDetector | None = None
    """The body detector of pushed frames (None: people are counted by their faces)."""
    occupancy_threshold: int | None = 50
    """People in view of a pushed camera that raise an occupancy alert (None: never; ingest
    workers take the deployment's ``occupancy_threshold``)."""
    claims: StreamClaims | None = None
    """Which cameras' pushed frames this server processes (None: all it is sent)."""
    _streams: dict[str, PushedStream] = field(default_factory=dict, repr=False)
    _streams_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _publishing: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _anonymous: Warden | None = field(default=None, repr=False)
    _image_limiter: anyio.CapacityLimiter | None = field(default=None, repr=False)

    def open_warden(self) -> Warden:
        """The deployment (raises while the server is not started)."""
        if self.warden is None:
            raise FacewardenError("the server is not started")
        return self.warden

    @property
    def image_limiter(self) -> anyio.CapacityLimiter:
        """How many image requests are worked on at once (created in the event loop)."""
        if self._image_limiter is None:
            threads = self.settings.image_threads or len(os.sched_getaffinity(0))
            self._image_limiter = anyio.CapacityLimiter(threads)
        return self._image_limiter

    def stream(self, camera_id: str, create: Callable[[], FrameProcessor]) -> PushedStream:
        """The open pushed stream of ``camera_id``, started with ``create()`` if there is none.

        Raises:
            CameraBusyError: another server processes the camera's frames now
                (a stream this server still had of it is finished).
        """
        with self._streams_lock:
            stream = self._streams.get(camera_id)
            held = self._claim(camera_id)
            if held and stream is not None and not stream.ended:
                return stream
            lost = None if held else self._streams.pop(camera_id, None)
        if not held:
            if lost is not None:  # taken over while this server's claim was gone
                self._end_safely(lost, handed_on=True)
            raise busy(camera_id)
        # Made outside the lock (it writes an audit entry): other cameras' frames
        # do not wait for it. Two first frames racing: the first one stored wins.
        fresh = PushedStream(camera_id, create())
        with self._streams_lock:
            stream = self._streams.get(camera_id)
            if stream is None or stream.ended:
                # Claimed again: a stream that ended meanwhile released the camera.
                if not self._claim(camera_id):
                    raise busy(camera_id)
                stream = self._streams[camera_id] = fresh
            return stream

    def _claim(self, camera_id: str) -> bool:
        return self.claims is None or self.claims.claim(camera_id)

    def streamed_elsewhere(self, camera_id: str) -> bool:
        """Whether another server processes the pushed frames of ``camera_id`` now."""
        with self._streams_lock:
            stream = self._streams.get(camera_id)
            if stream is not None and not stream.ended:
                return False
            return self.claims is not None and self.claims.elsewhere(camera_id)

    def open_stream(self, camera_id: str) -> PushedStream | None:
        """The open pushed stream of ``camera_id``, or None."""
        with self._streams_lock:
            return self._streams.get(camera_id)

    def take_stream(self, camera_id: str) -> PushedStream | None:
        """Remove and return the pushed stream of ``camera_id`` (None: there was none).

        The caller finishes it (:meth:`finish`) or, for a removed camera, drops it
        (:meth:`drop`).
        """
        with self._streams_lock:
            return self._streams.pop(camera_id, None)

    def finish(self, stream: PushedStream) -> bool:
        """:func:`end_stream`, then release the camera for any server; False if it had ended.

        Its published state is withdrawn first (every server shows the camera idle), while
        no other server can hold the camera and publish its own.
        """
        try:
            ended = end_stream(stream)
            if ended and self.warden is not None:
                gone = SharedState("idle", None, 0, 0, True, self.warden.clock())
                with self._publishing:
                    publish(self.warden, {stream.camera_id: gone})
            return ended
        finally:
            self._release(stream.camera_id)

    def publish_streams(self, only: PushedStream | None = None) -> None:
        """Publish the state of the open pushed streams (or of ``only``) for every server.

        Called at a stream's first frame and every
        :data:`~facewarden.service.camera_states.PUBLISH_EVERY`: the other servers show
        the camera live, its counters at most that far behind, until this one stops
        renewing it (:mod:`facewarden.service.camera_states`).
        """
        if self.warden is None:
            return
        with self._publishing:
            with self._streams_lock:
                streams = [s for s in self._streams.values() if only in (None, s)]
            until = self.warden.clock() + VALID_FOR
            states = {
                s.camera_id: SharedState(
                    "live", None, s.frames, s.sightings, True, until, s.last, s.fps
                )
                for s in streams
                if not s.ended
            }
            publish(self.warden, states)

    def drop(self, stream: PushedStream) -> None:
        """Drop a removed camera's stream unfinished (nothing of it can be written any more)."""
        with stream.lock:
            stream.ended = True
        self._release(stream.camera_id)

    def _release(self, camera_id: str) -> None:
        # Under the registry's lock, and only while no stream of the camera is open
        # here: a frame that opened a new one meanwhile keeps the claim.
        with self._streams_lock:
            stream = self._streams.get(camera_id)
            if self.claims is not None and (stream is None or stream.ended):
                self.claims.release(camera_id)

    def end_idle_streams(self, idle_seconds: float) -> int:
        """Finish the pushed streams no frame came to for ``idle_seconds``; how many.

        A client that stops pushing without ending its stream would otherwise
        leave its tracks open and its last minutes of crowd counts unwritten.
        """
        cutoff = time.monotonic() - idle_seconds
        with self._streams_lock:
            # A stream whose frame is being processed is not idle, however long
            # that frame takes (a first frame loads the models).
            idle = [s for s in self._streams.values() if s.touched < cutoff and not s.lock.locked()]
            for stream in idle:
                del self._streams[stream.camera_id]
        return sum(self._end_safely(stream) for stream in idle)

    def end_streams(self) -> None:
        """Finish every open pushed stream (the server is stopping), then release its claims."""
        with self._streams_lock:
            streams = list(self._streams.values())
            self._streams.clear()
        for stream in streams:
            self._end_safely(stream)
        if self.claims is not None:
            self.claims.close()

    def _end_safely(self, stream: PushedStream, *, handed_on: bool = False) -> bool:
        # One stream's failed write must not leave the others unfinished: they are
        # out of the registry already, and nothing would finish them later. A stream
        # whose camera another server took is only ended: the published state and
        # the claim are that server's now.
        try:
            return end_stream(stream) if handed_on else self.finish(stream)
        except Exception:
            logger.exception("ending the pushed stream of camera %s failed", stream.camera_id)
            return False

    @property
    def anonymous(self) -> Warden:
        """A view acting for the unauthenticated caller (sign-ins, key checks)."""
        if self._anonymous is None:
            self._anonymous = self.open_warden().with_actor(ANONYMOUS)
        return self._anonymous


def busy(camera_id: str) -> CameraBusyError:
    """The 409 for a camera whose pushed frames another server processes now."""
    return CameraBusyError(
        f"camera {camera_id}'s pushed frames are processed by another server now: send "
        "a camera's frames to one server (route by the camera in the path), or again once "
        "that server's stream has ended",
        retry_after=BUSY_RETRY_SECONDS,
    )


def end_stream(stream: PushedStream) -> bool:
    """Finish ``stream``: end its tracks, write its visits and crowd buckets (once).

    Returns:
        False when it had already ended.
    """
    with stream.lock:
        if stream.ended:
            return False
        stream.ended = True
        if stream.last is not None:
            stream.processor.finish(stream.last)
        return True


def server(request: Request) -> ServerState:
    """The state of the server handling ``request``."""
    state = request.app.state.server
    if not isinstance(state, ServerState):
        raise FacewardenError("the app was not built by create_app")
    return state


def current_principal(request: Request) -> Principal:
    """Who made ``request``, as the authentication middleware established.

    Raises:
        AuthenticationError: nobody (a public route asked for a principal).
    """
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        raise AuthenticationError("authentication required: send X-API-Key, or sign in")
    return principal


def acting_warden(request: Request) -> Warden:
    """The deployment, acting (and audited) as the request's principal."""
    return server(request).open_warden().with_actor(current_principal(request).actor)


async def image_work(request: Request, work: Callable[[], T]) -> T:
    """Run CPU-heavy image work (the pipeline) in a thread, at most one per core at once.

    The event loop keeps serving meanwhile. Bounding the threads that run
    the models keeps their memory flat and their latency fair under load:
    requests beyond the bound wait their turn instead of all slowing down.
    """
    return await anyio.to_thread.run_sync(work, limiter=server(request).image_limiter)
