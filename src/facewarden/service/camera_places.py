"""A camera's place (its location label and coordinates), sealed at rest.

The system that facewarden answers to left camera location points labelled
"mosque", "hotel", "police station" in an open database. Here sightings say
which subject id was at which camera id, when; a stolen copy of the files
should not add that the camera is at a mosque's side door, or where on a
map. So the label and the coordinates are sealed together as typed free text
(:class:`~facewarden.privacy.freetext.FreeText`: AES-256-GCM with the key
directory's free-text key, bound to the camera's id) in the ``location``
column; the ``latitude`` and ``longitude`` columns stay empty. A camera's
*name* is its identifier, unique and looked up as typed, and stays in clear:
the place belongs in the location label.

Cameras stored before this (a location in clear, coordinates in their
columns) are read as they are and sealed by
:meth:`~facewarden.service.cameras.Cameras.seal_legacy_sources` the first
time cameras are read; the store is then compacted so the clear values
leave its files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from facewarden.errors import IntegrityError
from facewarden.privacy.freetext import FreeText, is_sealed
from facewarden.store.base import CameraRow

__all__ = ["Place", "is_place_sealed", "open_place", "seal_place"]

_TABLE = "cameras"
_FIELD = "place"


@dataclass(frozen=True)
class Place:
    """Where a camera is: its location label, and its GPS coordinates in degrees or None."""

    label: str
    latitude: float | None = None
    longitude: float | None = None


def seal_place(freetext: FreeText, camera_id: str, place: Place) -> str:
    """The sealed text stored in the camera's ``location`` column."""
    plain = json.dumps(
        {"label": place.label, "latitude": place.latitude, "longitude": place.longitude},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return freetext.seal(plain, table=_TABLE, row=camera_id, field=_FIELD)


def is_place_sealed(row: CameraRow) -> bool:
    """Whether the row's place is sealed (False: a camera stored before sealing)."""
    return is_sealed(row.location)


def open_place(freetext: FreeText, row: CameraRow) -> Place:
    """The camera's place; a row stored before sealing is read as it is.

    Raises:
        IntegrityError: the sealed place was altered or moved from another camera.
    """
    if not is_place_sealed(row):
        return Place(row.location, row.latitude, row.longitude)
    plain = freetext.open(row.location, table=_TABLE, row=row.camera_id, field=_FIELD)
    try:
        data = json.loads(plain)
        return Place(str(data["label"]), _degrees(data["latitude"]), _degrees(data["longitude"]))
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(f"camera {row.camera_id}: its sealed place is malformed") from None


def _degrees(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    return float(value)
