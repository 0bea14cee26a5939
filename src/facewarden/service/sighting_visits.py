"""Recording sightings: one per visit of a watchlist subject to a camera, with an expiry.

Written by the frame processor (:mod:`facewarden.service.frames`), once per
visit even when a camera's video is gone over again by the worker taking it
over (:meth:`SightingVisits.open_visit` continues the stored visit), with an
expiry: the deployment's ``sighting_retention_hours`` (24 by default), or
a camera's own (shorter; longer only when an admin raised it), shortened
further by a watchlist's. The hourly purge deletes expired ones (SECURITY.md
promise 11). Reading them back is :mod:`facewarden.service.sightings`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from facewarden.errors import InvalidInputError, NotFoundError
from facewarden.privacy.crypto import WrappedKey
from facewarden.service.alert_severity import watchlist_severity
from facewarden.service.audit import AuditLog
from facewarden.service.cameras import camera_retention_hours
from facewarden.service.context import Context
from facewarden.service.records import new_id
from facewarden.service.watchlists import resolve_watchlist
from facewarden.store.base import CameraRow, SightingRow, Transaction

__all__ = ["VISIT_GAP", "SightingVisits"]

_WATCHLIST_RETENTION = "sighting_retention_hours:"
# A subject seen again within this at the same camera continues the same visit
# (the frame processor's default ``merge_gap``).
VISIT_GAP = timedelta(seconds=10)


class SightingVisits:
    """Write sightings for the frame processor; a part of :class:`~.sightings.Sightings`."""

    _ctx: Context
    _audit: AuditLog

    def retention(self, camera: CameraRow, watchlist_id: str) -> timedelta:
        """How long a sighting at ``camera`` against ``watchlist_id`` is kept."""
        hours = [camera_retention_hours(self._ctx.settings, self._ctx.store, camera)]
        override = self._ctx.store.get_meta(_WATCHLIST_RETENTION + watchlist_id)
        if override:
            hours.append(int(override))
        return timedelta(hours=min(hours))

    def set_watchlist_retention(self, watchlist: str, hours: int | None) -> None:
        """Keep sightings against ``watchlist`` for ``hours`` (None: the default), audited."""
        if hours is not None and not 1 <= hours <= 24 * 365:
            raise InvalidInputError("retention hours must be 1 to 8760")
        with self._ctx.writing() as tx:
            row = resolve_watchlist(tx, watchlist)
            tx.set_meta(_WATCHLIST_RETENTION + row.watchlist_id, str(hours or ""))
            self._audit.append(
                tx,
                "watchlist.sighting_retention",
                object_type="watchlist",
                object_id=row.watchlist_id,
                details={"hours": hours},
            )

    def open_visit(
        self,
        camera: CameraRow,
        subject_id: str,
        watchlist_id: str,
        first_seen: datetime,
        last_seen: datetime,
        similarity: float,
        thumbnail: bytes | None = None,
        *,
        merge_gap: timedelta = VISIT_GAP,
    ) -> str:
        """Write a new sighting (audited), or continue the visit's stored one; returns its id.

        See :meth:`record_visit`, which also says which of the two happened.
        """
        sighting_id, _ = self.record_visit(
            camera,
            subject_id,
            watchlist_id,
            first_seen,
            last_seen,
            similarity,
            thumbnail,
            merge_gap=merge_gap,
        )
        return sighting_id

    def record_visit(
        self,
        camera: CameraRow,
        subject_id: str,
        watchlist_id: str,
        first_seen: datetime,
        last_seen: datetime,
        similarity: float,
        thumbnail: bytes | None = None,
        *,
        merge_gap: timedelta = VISIT_GAP,
    ) -> tuple[str, bool]:
        """Write a new sighting (audited), or continue the visit's stored one.

        Returns the sighting id and whether it is new (a continued visit is
        not a new sighting: no second audit entry, no second alert).

        ``thumbnail`` (encoded image bytes) is kept only if the camera says
        so, and then encrypted with the subject's data key.

        Recording is idempotent for one visit: when a sighting of the same
        subject at this camera against this watchlist already reaches to
        within ``merge_gap`` of ``[first_seen, last_seen]``, that sighting is
        extended instead of a second one opened. So a camera taken over by
        another worker (or restarted), which goes over the last few seconds
        of its video again, does not record the visit twice.
        """
        expires = last_seen + self.retention(camera, watchlist_id)
        with self._ctx.writing() as tx:
            same = [
                r
                for r in tx.sightings_at(
                    camera.camera_id, watchlist_id, first_seen - merge_gap, last_seen + merge_gap
                )
                if r.subject_id == subject_id
            ]
            if same:
                row = max(same, key=lambda r: r.last_seen)
                last = max(last_seen, row.last_seen)
                tx.update_sighting(
                    row.sighting_id,
                    last_seen=last,
                    best_similarity=max(similarity, row.best_similarity),
                    expires_at=max(expires, row.expires_at + (last - row.last_seen)),
                )
                return row.sighting_id, False
            sighting_id = new_id("sig")
            sealed = self._seal(tx, camera, subject_id, sighting_id, thumbnail)
            tx.insert_sighting(
                SightingRow(
                    sighting_id,
                    subject_id,
                    camera.camera_id,
                    watchlist_id,
                    first_seen,
                    last_seen,
                    similarity,
                    expires,
                    sealed,
                    # As loud as the watchlist says now, kept: a later change
                    # to the watchlist does not rewrite this alert.
                    watchlist_severity(tx, watchlist_id),
                )
            )
            # In the same transaction as the sighting: the desk's consoles learn of new
            # sightings by this entry, in the audit chain's order (service/alert_feed.py).
            self._audit.append(
                tx,
                "sighting.record",
                object_type="sighting",
                object_id=sighting_id,
                purpose=f"camera {camera.camera_id}",
                # Not the subject: the audit log outlives the sighting, and must
                # not become the movement record the expiry is there to prevent.
                details={"camera": camera.camera_id},
            )
        return sighting_id, True

    def extend(self, sighting_id: str, last_seen: datetime, similarity: float) -> bool:
        """Move a sighting's last-seen time (and its expiry with it) on.

        Not audited: the visit's sighting was, when it was recorded. Not moved
        once the subject is off the sighting's watchlist (taken off, or the
        watchlist deleted, by any process): where someone is stops being
        recorded when the reason to watch them does, though the camera may
        still follow their track.
        """
        with self._ctx.writing() as tx:
            row = tx.get_sighting(sighting_id)
            if row is None:  # purged or erased meanwhile
                return False
            if row.watchlist_id not in tx.watchlists_of(row.subject_id):
                return False
            return tx.update_sighting(
                sighting_id,
                last_seen=max(last_seen, row.last_seen),
                best_similarity=max(similarity, row.best_similarity),
                expires_at=max(last_seen, row.last_seen) + (row.expires_at - row.last_seen),
            )

    def _seal(
        self,
        tx: Transaction,
        camera: CameraRow,
        subject_id: str,
        sighting_id: str,
        thumbnail: bytes | None,
    ) -> bytes | None:
        if thumbnail is None or not camera.keep_thumbnails:
            return None
        subject = tx.get_subject(subject_id)
        if subject is None:
            raise NotFoundError(f"no subject {subject_id}")
        return self._ctx.envelope.encrypt(
            thumbnail,
            data_key=WrappedKey.from_bytes(subject.wrapped_key),
            table="sightings",
            row=sighting_id,
            field="thumbnail",
        )
