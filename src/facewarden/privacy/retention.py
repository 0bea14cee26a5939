"""Retention: how long each class of data is kept, and the purge that enforces it.

The policy table maps a *data class* to a maximum age and to how expired
rows of that class are found and deleted. Ages are measured with an
injectable clock, so a test can move a month forward in a millisecond.

Data classes now:

* ``subjects``: records not updated for the configured time are erased like
  an erasure request (with an audit tombstone each); off by default, since
  enrollment usually lasts until a decision to erase;
* ``enrollment_photos``: kept photos (the templates stay); off by default;
* ``import_progress``: bulk-import bookkeeping, 30 days by default;
* ``sightings``: who was seen at which camera, 24 hours by default
  (SECURITY.md promise 11). Each sighting carries its own expiry, set when
  it is written from the camera's, the watchlist's or this default
  retention, so the purge deletes those whose expiry has passed.

A purge only deletes rows; the caller then compacts the store (checkpoint
and vacuum) so the bytes leave the disk too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from facewarden.config import Settings
from facewarden.store.base import Transaction

__all__ = [
    "IMPORT_PROGRESS",
    "PHOTOS",
    "SIGHTINGS",
    "SUBJECTS",
    "PurgeReport",
    "RetentionPolicy",
    "policies_from_settings",
    "purge",
]

SUBJECTS = "subjects"
PHOTOS = "enrollment_photos"
IMPORT_PROGRESS = "import_progress"
SIGHTINGS = "sightings"
_SUBJECT_BATCH = 500

EraseSubject = Callable[[str], None]
"""Erases one subject inside the purge's transaction (the registry's erasure, audited)."""


@dataclass(frozen=True)
class RetentionPolicy:
    """How long one class of data is kept.

    Attributes:
        data_class: the class's name.
        max_age: the age at which a row expires; None keeps it until erased.
        description: what the class holds, for reports.
    """

    data_class: str
    max_age: timedelta | None
    description: str

    def cutoff(self, now: datetime) -> datetime | None:
        """Rows older than this have expired (None: nothing expires)."""
        return None if self.max_age is None else now - self.max_age


@dataclass(frozen=True)
class PurgeReport:
    """What a purge deleted, per data class, and when."""

    at: datetime
    deleted: Mapping[str, int]
    erased_subjects: tuple[str, ...] = field(default=())

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def _days(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(days=value)


def policies_from_settings(settings: Settings) -> tuple[RetentionPolicy, ...]:
    """The policy table for a deployment."""
    return (
        RetentionPolicy(
            SUBJECTS,
            _days(settings.subject_retention_days),
            "identity records, faces and templates, counted from the last change",
        ),
        RetentionPolicy(
            PHOTOS,
            _days(settings.photo_retention_days),
            "encrypted enrollment photos (templates are kept)",
        ),
        RetentionPolicy(
            IMPORT_PROGRESS,
            _days(settings.import_progress_retention_days),
            "records of which bulk-import sources were enrolled",
        ),
        RetentionPolicy(
            SIGHTINGS,
            timedelta(hours=settings.sighting_retention_hours),
            "sightings of watchlist subjects at cameras (per-camera overrides apply)",
        ),
    )


def purge(
    tx: Transaction,
    policies: tuple[RetentionPolicy, ...],
    now: datetime,
    erase_subject: EraseSubject,
) -> PurgeReport:
    """Delete every expired row, inside the caller's transaction.

    Args:
        tx: the transaction to work in.
        policies: the policy table.
        now: the current time (from the deployment's clock).
        erase_subject: erases one expired subject (audited, with a tombstone).
    """
    deleted: dict[str, int] = {}
    erased: list[str] = []
    for policy in policies:
        if policy.data_class == SIGHTINGS:
            # Each sighting carries its own expiry (camera or watchlist overrides).
            deleted[SIGHTINGS] = tx.delete_sightings_expired(now)
            continue
        cutoff = policy.cutoff(now)
        if cutoff is None:
            continue
        if policy.data_class == SUBJECTS:
            while batch := tx.subjects_updated_before(cutoff, limit=_SUBJECT_BATCH):
                for subject_id in batch:
                    erase_subject(subject_id)
                erased.extend(batch)
            deleted[SUBJECTS] = len(erased)
        elif policy.data_class == PHOTOS:
            deleted[PHOTOS] = tx.delete_photos_before(cutoff)
        elif policy.data_class == IMPORT_PROGRESS:
            deleted[IMPORT_PROGRESS] = tx.delete_imports_before(cutoff)
        else:
            raise ValueError(f"no purger for data class {policy.data_class!r}")
    return PurgeReport(now, deleted, tuple(erased))
