"""The FastAPI application: ``create_app(settings, ...)``.

One app serves the native JSON API (``/v1/``), the CompreFace-compatible
API (``/api/v1/``) and the operator console's static files (``/console/``).
Around the routes, from the outside in:

1. :class:`~facewarden.api.security.SecurityHeaders` on every response
   (redirects relative, whatever the ``Host`` header says);
2. :class:`~facewarden.api.security.HeadLimit`: request heads over 64 KiB
   are refused (431); :class:`~facewarden.api.security.OneFraming`: a body
   framed both by Content-Length and Transfer-Encoding is refused (400), its
   connection closed;
3. :class:`~facewarden.api.security.HeadAsGet`: a HEAD is served as its GET,
   without the body;
4. :class:`~facewarden.api.security.BodyLimit`: bodies over the image byte
   cap plus 1 MiB (native JSON bodies: over 1 MiB) are refused before they
   are read; stalled bodies time out;
   what is read stays in memory, never a temporary file
   (:func:`~facewarden.api.uploads.keep_uploads_in_memory`);
5. :class:`~facewarden.api.auth.AuthMiddleware`: who is calling and whether
   their role may call this route, decided before the body is parsed.

Errors of every kind are rendered in one shape (:mod:`facewarden.api.errors`).
The OpenAPI document and ``/docs`` need authentication too; FastAPI's public
ones are switched off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.middleware import Middleware

from facewarden import __version__
from facewarden.api import compreface, compreface_recognition
from facewarden.api.auth import AuthMiddleware
from facewarden.api.compreface_cors import CompreFaceCors
from facewarden.api.compreface_paths import MergeSlashes
from facewarden.api.errors import UnexpectedErrors, install_error_handlers
from facewarden.api.routes import (
    admin,
    audit,
    cameras,
    desk,
    docs,
    health,
    recognition,
    session,
    sightings,
    subjects,
)
from facewarden.api.routes import watchlists as watchlist_routes
from facewarden.api.schemas import ErrorOut
from facewarden.api.security import (
    BodyLimit,
    HeadAsGet,
    HeadLimit,
    OneFraming,
    SecurityHeaders,
)
from facewarden.api.state import IngestStates, ServerState
from facewarden.api.uploads import keep_uploads_in_memory
from facewarden.config import Settings
from facewarden.privacy.clock import Clock, utc_now
from facewarden.service.camera_claims import StreamClaims
from facewarden.service.camera_states import PUBLISH_EVERY
from facewarden.service.ratelimit import AuthLimiter
from facewarden.service.supervisor import default_worker_id
from facewarden.service.warden import Warden
from facewarden.vision.people import BodyDetector, people_detector_for

__all__ = ["STATIC_DIR", "create_app"]

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
"""Where the operator console's files are (served at ``/console/`` when present)."""

_NATIVE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429)
}


async def _tend_streams(state: ServerState, idle_seconds: float) -> None:
    """Publish the open pushed streams' states for the other servers every few seconds, and
    end the streams that went quiet (checked a few times per ``idle_seconds``)."""
    sweep_every = max(0.2, idle_seconds / 4)
    swept = time.monotonic()
    while True:
        await anyio.sleep(min(PUBLISH_EVERY.total_seconds(), sweep_every))
        try:  # a failing write must stop neither the publishing nor the sweeping
            await anyio.to_thread.run_sync(state.publish_streams)
            if time.monotonic() - swept < sweep_every:
                continue
            swept = time.monotonic()
            ended = await anyio.to_thread.run_sync(state.end_idle_streams, idle_seconds)
        except Exception:
            logger.exception("publishing or ending pushed streams failed")
            continue
        if ended:
            logger.info("ended %d idle pushed camera stream(s)", ended)


async def _purge_periodically(state: ServerState, interval: float) -> None:
    """Run the retention purge as the server starts, then every ``interval`` seconds
    (SECURITY.md promise 11).

    At once first: waiting an interval before the first, a server restarted
    more often than that never purged, and one back from a long stop kept
    what expired meanwhile an interval more.
    """
    while True:
        warden = state.warden
        if warden is not None:
            try:
                report = await anyio.to_thread.run_sync(warden.with_actor("system:retention").purge)
            except Exception:  # a failed purge is retried at the next interval
                logger.exception("the retention purge failed")
            else:
                if report.total:
                    logger.info("retention purge deleted %s", dict(report.deleted))
        await anyio.sleep(interval)


def create_app(
    settings: Settings,
    *,
    warden: Warden | None = None,
    clock: Clock = utc_now,
    static_dir: Path | None = STATIC_DIR,
    ingest: IngestStates | None = None,
    people: BodyDetector | None = None,
) -> FastAPI:
    """The facewarden server app.

    Args:
        settings: the deployment's settings (caps, session lifetime, limits).
        warden: an open deployment to serve; if None, one is opened when the
            app starts (``Warden.open(settings)``) and closed when it stops.
        clock: the time source for sessions, key expiry and rate limits.
        static_dir: the console's files, mounted at ``/console`` if the folder exists.
        ingest: what runs the cameras' sources, for their state in ``/v1/cameras``
            (also settable later as ``app.state.server.ingest``).
        people: the body detector for pushed frames, when the caller already
            built the deployment's (``facewarden serve`` shares its ingest
            worker's: one hash check, one notice); None: built here from
            ``settings`` (:func:`people_detector_for`).
    """
    keep_uploads_in_memory(settings.max_request_bytes)
    # Until a deployment is open (the lifespan), counts stay in memory; then in its database.
    if warden is None:
        limiter = AuthLimiter.from_settings(settings, clock=clock)
    else:
        limiter = warden.auth_limiter()
    state = ServerState(settings, limiter, clock, warden)
    state.ingest = ingest
    state.people = people if people is not None else people_detector_for(settings)
    state.occupancy_threshold = settings.occupancy_threshold
    state.claims = StreamClaims(settings, f"{default_worker_id()}:frames")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state.warden is None:
            state.warden = Warden.open(settings, clock=clock, actor="system:server")
            state.owns_warden = True
            state.limiter = state.warden.auth_limiter()
        templates = state.warden.warm_up()
        logger.info("serving %s with %d template(s)", state.warden, templates)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_tend_streams, state, settings.push_idle_seconds)
            if settings.purge_interval_minutes is not None:
                tasks.start_soon(_purge_periodically, state, settings.purge_interval_minutes * 60)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
        # Pushed camera streams write their last visits and crowd buckets.
        try:
            await anyio.to_thread.run_sync(state.end_streams)
        finally:
            if state.owns_warden and state.warden is not None:
                state.warden.close()

    app = FastAPI(
        title="facewarden",
        version=__version__,
        summary="Face recognition for site security, closed by default.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        responses=_NATIVE_ERRORS,
        form_limits={"max_files": 16, "max_fields": 64, "max_part_size": 64 * 1024},
        middleware=[
            # First: every layer after it (CORS, authentication, routing) sees one path.
            Middleware(MergeSlashes),
            Middleware(SecurityHeaders, hsts=settings.tls),
            # Inside the headers: a 500 carries them too, and its connection stays open.
            Middleware(UnexpectedErrors),
            Middleware(HeadLimit),
            Middleware(OneFraming),
            # Before authentication: a browser's preflight carries no API key.
            Middleware(CompreFaceCors, origins=settings.compreface_cors_origins),
            Middleware(HeadAsGet),
            Middleware(
                BodyLimit,
                max_bytes=settings.max_request_bytes,
                read_timeout=settings.read_timeout_seconds,
            ),
            Middleware(AuthMiddleware),
        ],
    )
    app.state.server = state
    install_error_handlers(app)
    for module in (
        health,
        session,
        recognition,
        subjects,
        watchlist_routes,
        cameras,
        sightings,
        desk,
        audit,
        admin,
        docs,
        compreface,
        compreface_recognition,
    ):
        app.include_router(module.router)
        state.routes.extend(module.router.routes)
    app.include_router(watchlist_routes.stats_router)
    state.routes.extend(watchlist_routes.stats_router.routes)
    if static_dir is not None and static_dir.is_dir():
        app.mount("/console", StaticFiles(directory=static_dir, html=True), name="console")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
                description="See docs/http-api.md. Every operation but /health and "
                "/v1/auth/login needs an API key (X-API-Key) or a session cookie.",
            )
            components = document.setdefault("components", {})
            components["securitySchemes"] = {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "session": {"type": "apiKey", "in": "cookie", "name": "fw_session"},
            }
            document["security"] = [{"apiKey": []}, {"session": []}]
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
