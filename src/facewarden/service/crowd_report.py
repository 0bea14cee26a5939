"""Crowd reports: stored buckets with small counts suppressed, as rows or CSV.

Any count below ``crowd_min_count`` (5 by default) is reported as None
(``<5`` in CSV): faces, people, visitors, each dwell-time bin and each
heatmap cell, so a report cannot single out the one person who came at
3 a.m. (SECURITY.md promise 12). Means are suppressed with the maximum they
come from.

Occupancy alerts (a camera's people in view reached the deployment's
``occupancy_threshold``) are stored too, counts only, so that every server of
a deployment shows the console the same ones, after a restart as well; they
go with their camera and with the crowd counts' retention.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from facewarden.errors import PermissionDeniedError
from facewarden.service.cameras import resolve_camera
from facewarden.service.context import Context
from facewarden.service.crowd import DWELL_BINS, OccupancyAlert, merge_buckets
from facewarden.store.cameras import CrowdBucketRow, OccupancyAlertRow

__all__ = ["CrowdBucket", "CrowdReports", "to_csv"]

_STORE_HOOK = "http://localhost/stored-occupancy"
"""The URL a stored occupancy alert is made with: never contacted (its post stores it)."""

_ROLES = frozenset({"admin", "operator", "analyst"})
_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True)
class CrowdBucket:
    """One reported bucket; None where a count was below the threshold."""

    start: datetime
    seconds: int
    frames: int
    faces_max: int | None
    faces_mean: float | None
    people_max: int | None
    people_mean: float | None
    unique_visitors: int | None
    dwell: dict[str, int | None]
    heatmap: tuple[tuple[int | None, ...], ...]


def _keep(value: int, k: int) -> int | None:
    return value if value >= k else None


def suppress(row: CrowdBucketRow, k: int) -> CrowdBucket:
    """``row`` with every count below ``k`` replaced by None."""
    faces_max = _keep(row.faces_max, k)
    people_max = _keep(row.people_max, k)
    return CrowdBucket(
        row.start,
        row.seconds,
        row.frames,
        faces_max,
        None if faces_max is None else round(row.faces_mean, 2),
        people_max,
        None if people_max is None else round(row.people_mean, 2),
        _keep(row.unique_visitors, k),
        {label: _keep(row.dwell.get(label, 0), k) for _, label in DWELL_BINS},
        tuple(tuple(_keep(v, k) for v in r) for r in row.heatmap),
    )


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _as_text(value: str) -> str:
    """``value`` as a cell a spreadsheet shows as text, never runs as a formula.

    A camera name is typed by an operator and opened by an analyst: one
    starting with ``=``, ``+``, ``-`` or ``@`` (OWASP's CSV injection) gets a
    leading quote, which spreadsheets take as "this cell is text".
    """
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def to_csv(camera: str, buckets: Sequence[CrowdBucket], k: int) -> str:
    """The buckets as CSV (one line each; suppressed counts as ``<k``; no heatmap)."""
    hidden = f"<{k}"

    def cell(value: float | None) -> str:
        return hidden if value is None else str(value)

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    labels = [label for _, label in DWELL_BINS]
    writer.writerow(
        [
            "camera",
            "start",
            "seconds",
            "frames",
            "faces_max",
            "faces_mean",
            "people_max",
            "people_mean",
            "unique_visitors",
            *(f"dwell_{label}" for label in labels),
        ]
    )
    for b in buckets:
        writer.writerow(
            [
                _as_text(camera),
                b.start.isoformat(),
                b.seconds,
                b.frames,
                cell(b.faces_max),
                cell(b.faces_mean),
                cell(b.people_max),
                cell(b.people_mean),
                cell(b.unique_visitors),
                *(cell(b.dwell[label]) for label in labels),
            ]
        )
    return out.getvalue()


class CrowdReports:
    """Read crowd aggregates (roles ``analyst``, ``operator`` or ``admin``)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    @property
    def min_count(self) -> int:
        """Counts below this are suppressed."""
        return self._ctx.settings.crowd_min_count

    def buckets(
        self, camera: str, start: datetime, end: datetime, *, role: str
    ) -> list[CrowdBucket]:
        """The camera's buckets starting in ``[start, end)``, small counts suppressed.

        Raises:
            PermissionDeniedError: the role may not read crowd aggregates.
            NotFoundError: no such camera.
        """
        if role not in _ROLES:
            raise PermissionDeniedError(f"role {role!r} may not read crowd aggregates")
        self._ctx.ensure_open()
        row = resolve_camera(self._ctx.store, camera)
        rows = self._ctx.store.crowd_buckets(row.camera_id, start, end)
        return [suppress(r, self.min_count) for r in rows]

    def csv(self, camera: str, start: datetime, end: datetime, *, role: str) -> str:
        """:meth:`buckets` as CSV."""
        buckets = self.buckets(camera, start, end, role=role)
        return to_csv(resolve_camera(self._ctx.store, camera).name, buckets, self.min_count)

    def occupancy_alert(self, threshold: int) -> OccupancyAlert:
        """An :class:`OccupancyAlert` (its cooldown and re-arming) whose alerts are stored.

        Its cooldown holds across the camera's processors: an alert stored
        within it (by an earlier stream, or another server before a takeover)
        keeps this one from being stored. An alert is dated by its frame, but
        never later than the clock (a file read faster than real time, a frame
        stamped ahead): consoles ask for the alerts since the newest they
        hold, and a ``since`` in the future is refused. A failed write is
        logged by the alert, never raised into the frame.
        """

        def post(_url: str, body: bytes) -> None:
            payload = json.loads(body)
            row = OccupancyAlertRow(
                str(payload["camera"]),
                min(datetime.fromisoformat(str(payload["at"])), self._ctx.clock()),
                int(payload["people"]),
                int(payload["threshold"]),
            )
            with self._ctx.writing() as tx:
                if tx.get_camera(row.camera_id) is None:  # removed meanwhile: dropped
                    return
                if not tx.occupancy_alerts(row.at - alert.cooldown, 1, row.camera_id):
                    tx.insert_occupancy_alert(row)

        alert = OccupancyAlert(_STORE_HOOK, threshold, post=post)
        return alert

    def occupancy_alerts(
        self, since: datetime, limit: int, *, camera_id: str | None = None, role: str
    ) -> list[OccupancyAlertRow]:
        """Occupancy alerts raised after ``since`` (at one camera, when given), newest first.

        Raises:
            PermissionDeniedError: the role may not read crowd aggregates.
        """
        if role not in _ROLES:
            raise PermissionDeniedError(f"role {role!r} may not read crowd aggregates")
        self._ctx.ensure_open()
        return self._ctx.store.occupancy_alerts(since, limit, camera_id)

    def save(self, rows: Sequence[CrowdBucketRow]) -> None:
        """Store finished buckets (the frame processor's writes; aggregates only).

        A bucket already stored is merged with, not replaced (:func:`merge_buckets`).
        The buckets of a camera removed meanwhile (by any process) are dropped:
        its counts went with it.
        """
        with self._ctx.writing() as tx:
            for row in rows:
                if tx.get_camera(row.camera_id) is None:
                    continue
                stored = [
                    r
                    for r in tx.crowd_buckets(row.camera_id, row.start, row.start + _INSTANT)
                    if r.start == row.start
                ]
                tx.put_crowd_bucket(merge_buckets(stored[0], row) if stored else row)
