"""A camera's state as the console shows it, shared by every process of a deployment.

Only the process that runs a camera knows how it goes: the ingest supervisor
holding it (its source opened, an error, frames and sightings so far) or
the server holding its pushed stream. Behind a load balancer the console's
polls reach every server, and a worker may run apart from the API server
(``facewarden worker``), so the runner *publishes* the state in the store's
meta table (``camera_state:<camera id>``, a small JSON) every few seconds,
and every server reads it there (:func:`read_states`). A state carries how
long it holds (:data:`VALID_FOR`): one its runner stopped renewing (the
process died) is no longer shown, and the camera reads ``idle`` until the
next runner publishes.

Nothing personal or secret is in it: a state, counters, and an error with
the camera's source replaced by a mark (a source may hold a password, and a
file's name may name a place: the store keeps sources sealed) and any other
URL redacted (:func:`stored_error`); a server showing it puts the source
back in the redacted form its holder shows (:func:`shown_error`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from facewarden.errors import FacewardenError
from facewarden.vision.sources import redact_text

if TYPE_CHECKING:
    from facewarden.service.warden import Warden

__all__ = [
    "PUBLISH_EVERY",
    "STATE_KEY",
    "VALID_FOR",
    "SharedState",
    "publish",
    "read_states",
    "shown_error",
    "stored_error",
]

logger = logging.getLogger(__name__)

STATE_KEY = "camera_state:"
PUBLISH_EVERY = timedelta(seconds=2)
"""How often a runner publishes the states of the cameras it runs (at most)."""
VALID_FOR = timedelta(seconds=10)
"""How long a published state is shown without being renewed."""


@dataclass(frozen=True)
class SharedState:
    """A camera's state as its runner published it (``until``: shown until then).

    ``last_frame_at`` and ``fps`` (frame time) are a pushed stream's; None otherwise.
    """

    state: str
    error: str | None
    frames: int
    sightings: int
    pushed: bool
    until: datetime
    last_frame_at: datetime | None = None
    fps: float | None = None


_SOURCE_MARK = "<the camera's source>"


def stored_error(error: str | None, source: str) -> str | None:
    """``error`` as it is published: ``source`` replaced by a mark, other URLs redacted."""
    return None if error is None else redact_text(error.replace(source, _SOURCE_MARK))


def shown_error(error: str | None, source: str | None) -> str | None:
    """A published ``error`` as its holder shows it: the source redacted in the mark's place."""
    if error is None or not source:
        return error
    return redact_text(error.replace(_SOURCE_MARK, source), source)


def publish(warden: Warden, states: Mapping[str, SharedState]) -> bool:
    """Store ``states`` (camera id -> state) in one transaction; False if that failed.

    A camera removed meanwhile gets none (its entries went with it). A failure
    is logged, never raised: the camera runs on, and its state is published again.
    """
    if not states:
        return True
    try:
        with warden.store.transaction() as tx:
            for camera_id, state in states.items():
                if tx.get_camera(camera_id) is not None:
                    value = asdict(state) | {
                        "until": state.until.isoformat(),
                        "last_frame_at": _text(state.last_frame_at),
                    }
                    tx.set_meta(STATE_KEY + camera_id, json.dumps(value))
    except FacewardenError as exc:
        logger.warning("cannot publish the state of cameras %s: %s", sorted(states), exc)
        return False
    return True


def read_states(warden: Warden, camera_ids: Iterable[str]) -> dict[str, SharedState]:
    """The published states of ``camera_ids`` that still hold now, by camera id."""
    now = warden.clock()
    found: dict[str, SharedState] = {}
    for camera_id in camera_ids:
        raw = warden.store.get_meta(STATE_KEY + camera_id)
        if not raw:
            continue
        try:
            data = json.loads(raw)
            state = SharedState(
                str(data["state"]),
                None if data["error"] is None else str(data["error"]),
                int(data["frames"]),
                int(data["sightings"]),
                bool(data["pushed"]),
                datetime.fromisoformat(str(data["until"])),
                _when(data["last_frame_at"]),
                None if data["fps"] is None else float(data["fps"]),
            )
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring the unreadable state of camera %s", camera_id)
            continue
        if state.until > now:
            found[camera_id] = state
    return found


def _text(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _when(text: object) -> datetime | None:
    return None if text is None else datetime.fromisoformat(str(text))
