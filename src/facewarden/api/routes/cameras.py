"""Cameras: register, list, read, remove; frames pushed over the API; crowd reports.

A camera's ``source`` (a file path or a stream URL, possibly with a
password in it) is taken when a camera is registered and never shown
again: responses carry its kind only. A camera's state comes from the
ingest worker running it (``ServerState.ingest``), else from an open
pushed stream, else it is ``idle``.

Pushed frames (``POST /v1/cameras/{camera}/frames``) go through one
:class:`~facewarden.service.frames.FrameProcessor` per camera, kept in the
server's memory from the first frame until ``POST .../frames/end`` (or
the server stops): tracks, sightings and crowd counts work as for a
video. A sensitive camera never identifies; the processor sees to it.
Crowd reports are aggregates only, with small counts suppressed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, Response, UploadFile

from facewarden import imaging
from facewarden.api.auth import allow, require
from facewarden.api.camera_view import render_view
from facewarden.api.schemas_cameras import (
    CameraIn,
    CameraListOut,
    CameraOut,
    CrowdBucketOut,
    CrowdOut,
    FrameOut,
    IsoTime,
    StreamEndOut,
)
from facewarden.api.state import (
    ServerState,
    acting_warden,
    busy,
    image_work,
    server,
)
from facewarden.api.uploads import read_upload
from facewarden.errors import ConflictError, NotFoundError
from facewarden.service.camera_states import SharedState, read_states, shown_error
from facewarden.service.cameras import Camera
from facewarden.service.frames import FrameProcessor
from facewarden.service.ingest import CameraStatus
from facewarden.service.records import invalid_input
from facewarden.service.roles import Principal
from facewarden.service.warden import Warden
from facewarden.vision.sources import redact_text

__all__ = ["FUTURE_TOLERANCE", "PUSH_SOURCE", "aware", "router", "time_range"]

router = APIRouter(prefix="/v1/cameras", tags=["cameras"])
_MULTIPART, _JSON = "multipart/form-data", "application/json"
_Warden = Annotated[Warden, Depends(acting_warden)]
_Camera = Annotated[str, Path(min_length=1, max_length=64, description="camera id or name")]
_Time = Annotated[IsoTime | None, Query(description="ISO-8601 with a time zone")]

FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far ahead of the server's clock a frame's ``taken_at`` may be (camera clocks drift)."""
_CROWD_RANGE = timedelta(days=7)
_CSV_RANGE = timedelta(days=31)
_DEFAULT_RANGE = timedelta(hours=24)
_SYNC_EVERY = timedelta(seconds=2)
"""How often a pushed stream's live visits are written (of frame time). Were this server to
die, the one taking the camera over continues a visit only if it was written within the
processor's merge gap (10 s) before; an ingest worker's visits are written as often."""
PUSH_SOURCE = "push"
"""A camera registered with this ``source`` gets its frames over the API: none is stored."""


def aware(name: str, value: datetime) -> datetime:
    """``value`` in UTC, refusing a naive time or one out of range (400)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise invalid_input(f"{name} needs a time zone (e.g. 2026-01-31T08:00:00+00:00)")
    try:
        utc = value.astimezone(UTC)
        utc.timestamp()
    except (OverflowError, OSError, ValueError):
        raise invalid_input(f"{name} is out of range") from None
    if not 1970 <= utc.year <= 9000:
        raise invalid_input(f"{name} is out of range")
    return utc


def time_range(
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    *,
    default: timedelta = _DEFAULT_RANGE,
    longest: timedelta | None = None,
) -> tuple[datetime, datetime]:
    """``[start, end]`` in UTC: ``end`` defaults to now, ``start`` to ``default`` before it.

    Raises:
        InvalidInputError: a naive time, start not before end, or a range over ``longest``.
    """
    end_utc = aware("end", end) if end is not None else now
    start_utc = aware("start", start) if start is not None else None
    if start_utc is None:
        try:
            start_utc = end_utc - default
        except OverflowError:
            raise invalid_input("end is out of range") from None
    if start_utc >= end_utc:
        raise invalid_input("start must be before end")
    if longest is not None and end_utc - start_utc > longest:
        raise invalid_input(f"the range may span at most {longest.days} days")
    return start_utc, end_utc


def _redact(error: str | None, source: str | None) -> str | None:
    """An ingest error without the camera's source, or any URL's credentials and path."""
    return None if error is None else redact_text(error, source)


def _camera_out(
    state: ServerState,
    camera: Camera,
    ingest: dict[str, CameraStatus] | None,
    shared: Mapping[str, SharedState],
) -> CameraOut:
    status = None
    if ingest is not None:
        status = ingest.get(camera.camera_id) or ingest.get(camera.name)
    if status is not None:
        return CameraOut.from_camera(
            camera,
            state=status.state,
            error=_redact(status.error, camera.source),
            frames=status.frames,
            sightings=status.sightings,
        )
    stream = state.open_stream(camera.camera_id)
    if stream is not None and not stream.ended:
        return CameraOut.from_camera(
            camera, state="live", frames=stream.frames, sightings=stream.sightings, pushed=True
        )
    published = shared.get(camera.camera_id)  # another process runs it
    if published is not None:
        return CameraOut.from_camera(
            camera,
            state=published.state,
            error=shown_error(published.error, camera.source),
            frames=published.frames,
            sightings=published.sightings,
            pushed=published.pushed,
        )
    return CameraOut.from_camera(camera)


def _ingest_states(state: ServerState) -> dict[str, CameraStatus] | None:
    return None if state.ingest is None else dict(state.ingest.states())


def _shown(state: ServerState, warden: Warden, cameras: list[Camera]) -> list[CameraOut]:
    """The cameras with their states: this server's own, else those another one published."""
    ingest = _ingest_states(state)
    shared = read_states(warden, [c.camera_id for c in cameras])
    return [_camera_out(state, c, ingest, shared) for c in cameras]


@router.get("", response_model=CameraListOut, **allow("operator", "analyst"))
def list_cameras(request: Request, warden: _Warden) -> CameraListOut:
    """Every camera with its location, watchlists, flags and state (never its source)."""
    return CameraListOut(cameras=_shown(server(request), warden, warden.cameras.all()))


@router.post("", status_code=201, response_model=CameraOut, **allow("operator", media=_JSON))
def add_camera(
    request: Request,
    new: CameraIn,
    warden: _Warden,
    principal: Annotated[Principal, Depends(require("operator"))],
) -> CameraOut:
    """Register a camera (audited). A sensitive one checks no watchlists: it only counts.

    A place where a sensitive camera was stays sensitive: only an admin adds
    a camera there with ``sensitive: false`` (lifting it, audited). Only an
    admin sets ``retention_hours`` above the deployment's sighting retention.
    Otherwise 403.
    """
    source = new.source
    if source is not None and source.strip().lower() == PUSH_SOURCE:
        source = None  # frames come over the API: there is nothing for a worker to open
    camera = warden.cameras.add(
        new.name,
        location=new.location,
        watchlists=new.watchlists,
        sensitive=new.sensitive,
        latitude=new.latitude,
        longitude=new.longitude,
        retention_hours=new.retention_hours,
        source=source,
        keep_thumbnails=new.keep_thumbnails,
        role=principal.role,
        remote=True,
    )
    return _shown(server(request), warden, [camera])[0]


@router.get("/{camera}", response_model=CameraOut, **allow("operator", "analyst"))
def read_camera(request: Request, camera: _Camera, warden: _Warden) -> CameraOut:
    """One camera (by id or name) with its state."""
    return _shown(server(request), warden, [warden.cameras.get(camera)])[0]


@router.delete("/{camera}", status_code=204, response_class=Response, **allow("operator"))
def remove_camera(request: Request, camera: _Camera, warden: _Warden) -> Response:
    """Remove a camera with its sightings and crowd counts (audited); a pushed stream is dropped."""
    found = warden.cameras.get(camera)
    warden.cameras.remove(found.camera_id)
    state = server(request)
    stream = state.take_stream(found.camera_id)
    if stream is not None:  # the camera is gone: nothing of it can be written any more
        state.drop(stream)
    return Response(status_code=204)


# -- pushed frames -----------------------------------------------------------------


def _processor(state: ServerState, warden: Warden, camera: Camera) -> FrameProcessor:
    threshold = state.occupancy_threshold
    # The stream acts as the camera (as an ingest worker does); who opened it is audited.
    warden.audit.record("camera.stream_start", object_type="camera", object_id=camera.camera_id)
    return FrameProcessor(
        warden.with_actor(f"camera:{camera.name}"),
        camera.camera_id,
        people=state.people,
        alert=None if threshold is None else warden.crowd.occupancy_alert(threshold),
        sync_every=_SYNC_EVERY,
    )


@router.post("/{camera}/frames", response_model=FrameOut, **allow("operator", media=_MULTIPART))
async def push_frame(
    request: Request,
    camera: _Camera,
    image: Annotated[UploadFile, File(description="the frame (JPEG, PNG, WebP or BMP)")],
    warden: _Warden,
    taken_at: Annotated[
        IsoTime | None,
        Form(description="when the frame was taken, ISO-8601 with a time zone (default: now)"),
    ] = None,
) -> FrameOut:
    """Process one still frame of a camera: faces, tracks, sightings, crowd counts.

    Frames of a camera must come in time order. The answer names no one:
    counts, and the ids of sightings the frame started.
    """
    state = server(request)
    data = await read_upload(image, warden.settings.max_image_bytes, field="image")
    stated = None if taken_at is None else aware("taken_at", taken_at)

    def work() -> FrameOut:
        found = warden.cameras.get(camera)
        if found.source is not None:
            # Its ingest worker's processor writes its visits and crowd buckets: a
            # second one here would count the same minutes twice.
            raise ConflictError(
                f"camera {found.camera_id} reads its own source; push frames only to a "
                "camera registered without one"
            )
        frame = imaging.decode(data, limits=warden.settings.image_limits, name="image")
        now = warden.clock()
        oldest = now - timedelta(hours=warden.settings.sighting_retention_hours)
        if stated is not None and stated > now + FUTURE_TOLERANCE:
            raise invalid_input("taken_at is in the future (the server's clock is behind?)")
        if stated is not None and stated < oldest:
            raise invalid_input("taken_at is older than the sighting retention")
        for _ in range(3):
            stream = state.stream(found.camera_id, lambda: _processor(state, warden, found))
            with stream.lock:
                if stream.ended:  # finished meanwhile: the next frame opens a new stream
                    continue
                when = stated if stated is not None else max(now, stream.last or now)
                if stream.last is not None and when < stream.last:
                    raise invalid_input("taken_at is before the previous frame of this camera")
                result = stream.processor.process(frame, when)
                stream.last, stream.touched = when, time.monotonic()
                stream.first = stream.first or when
                if not found.sensitive:
                    # This frame's faces, for the camera page (memory only, replaced by the next).
                    boxes = tuple(t.box for t in stream.processor.tracker.tracks if t.missed == 0)
                    stream.view = (frame, boxes)
                stream.frames += 1
                stream.sightings += len(result.new_sightings)
            if stream.frames == 1:  # every server shows it live now, not at the next round
                state.publish_streams(only=stream)
            return FrameOut(
                taken_at=when,
                faces=result.faces,
                people=result.people,
                new_sightings=list(result.new_sightings),
            )
        raise ConflictError("the camera's stream kept ending meanwhile; send the frame again")

    return await image_work(request, work)


@router.post("/{camera}/frames/end", response_model=StreamEndOut, **allow("operator"))
async def end_frames(request: Request, camera: _Camera, warden: _Warden) -> StreamEndOut:
    """End the camera's pushed stream: tracks end, visits and crowd buckets are written.

    The next frame starts a new stream (its times may start anew). Ending a
    camera without an open stream is not an error: ``ended`` is false.
    """
    state = server(request)

    def work() -> StreamEndOut:
        found = warden.cameras.get(camera)
        stream = state.take_stream(found.camera_id)
        if stream is None and state.streamed_elsewhere(found.camera_id):
            raise busy(found.camera_id)  # its tracks and buckets are on that server
        if stream is None or not state.finish(stream):
            return StreamEndOut(ended=False, frames=0, sightings=0)
        warden.audit.record("camera.stream_end", object_type="camera", object_id=found.camera_id)
        return StreamEndOut(ended=True, frames=stream.frames, sightings=stream.sightings)

    return await image_work(request, work)


@router.get(
    "/{camera}/view",
    response_class=Response,
    responses={
        200: {
            "description": "the latest pushed frame with the faces boxed (JPEG, never cached)",
            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    **allow("operator"),
)
async def camera_view(request: Request, camera: _Camera, warden: _Warden) -> Response:
    """The latest frame pushed to the camera, faces boxed, names none (memory only; no-store).

    404 while no stream is open, and always for a sensitive camera (counts only).
    """
    state = server(request)

    def work() -> bytes:
        found = warden.cameras.get(camera)
        if found.sensitive:
            raise NotFoundError(f"camera {found.name} is sensitive: it shows no frames")
        stream = state.open_stream(found.camera_id)
        view = None if stream is None or stream.ended else stream.view
        if view is None and state.streamed_elsewhere(found.camera_id):
            raise busy(found.camera_id)  # the frame is in that server's memory only
        if view is None:
            raise NotFoundError(f"camera {found.name} has no live frame now")
        return render_view(view[0], view[1])

    data = await image_work(request, work)
    return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


# -- crowd ----------------------------------------------------------------------------

_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the buckets as CSV (suppressed counts as <k; no heatmap)",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get("/{camera}/crowd", response_model=CrowdOut, **allow("operator", "analyst"))
def crowd(
    camera: _Camera,
    warden: _Warden,
    principal: Annotated[Principal, Depends(require("operator", "analyst"))],
    start: _Time = None,
    end: _Time = None,
) -> CrowdOut:
    """A camera's anonymous counts per time bucket starting in ``[start, end)`` (at most 7 days).

    Default: the 24 hours before ``end`` (default: now). Counts below
    ``min_count`` are null: faces, people, visitors, dwell bins, heatmap cells.
    """
    first, last = time_range(start, end, warden.clock(), longest=_CROWD_RANGE)
    found = warden.cameras.get(camera)
    buckets = warden.crowd.buckets(found.camera_id, first, last, role=principal.role)
    return CrowdOut(
        camera=found.camera_id,
        min_count=warden.crowd.min_count,
        buckets=[CrowdBucketOut.from_bucket(b) for b in buckets],
    )


@router.get(
    "/{camera}/crowd.csv",
    response_class=Response,
    responses=_CSV_RESPONSE,
    **allow("operator", "analyst"),
)
def crowd_csv(
    camera: _Camera,
    warden: _Warden,
    principal: Annotated[Principal, Depends(require("operator", "analyst"))],
    start: _Time = None,
    end: _Time = None,
) -> Response:
    """The crowd buckets as CSV (at most 31 days; suppressed counts as ``<k``; no heatmap)."""
    first, last = time_range(start, end, warden.clock(), longest=_CSV_RANGE)
    found = warden.cameras.get(camera)
    text = warden.crowd.csv(found.camera_id, first, last, role=principal.role)
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="crowd-{found.camera_id}.csv"'},
    )
