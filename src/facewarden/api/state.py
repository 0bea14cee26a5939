"""What one running server shares between requests, and the dependencies that hand it out."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
import anyio.to_thread
from fastapi import Request
from starlette.routing import BaseRoute

from facewarden.config import Settings
from facewarden.errors import AuthenticationError, FacewardenError
from facewarden.privacy.clock import Clock
from facewarden.service.access import Principal
from facewarden.service.ratelimit import AuthLimiter
from facewarden.service.warden import Warden

__all__ = [
    "ANONYMOUS",
    "ServerState",
    "acting_warden",
    "current_principal",
    "image_work",
    "server",
]

T = TypeVar("T")

ANONYMOUS = "anonymous"
"""The actor of what happens before anyone is authenticated (failed sign-ins, bad keys)."""


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

    @property
    def anonymous(self) -> Warden:
        """A view acting for the unauthenticated caller (sign-ins, key checks)."""
        if self._anonymous is None:
            self._anonymous = self.open_warden().with_actor(ANONYMOUS)
        return self._anonymous


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
