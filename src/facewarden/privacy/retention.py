"""Retention: how long each class of data is kept, and the purge that enforces it.

The policy table maps a *data class* to a maximum age and to how expired
rows of that class are found and deleted. Ages are measured with an
injectable clock, so a test can move a month forward in a millisecond.

Data classes now:

* ``subjects``: records not updated for the configured time are erased like
  an erasure request (with an audit tombstone each), except those whose
  processing is restricted (kept until it is lifted); off by default, since
  enrollment usually lasts until a decision to erase;
* ``enrollment_photos``: kept photos (the templates stay); off by default;
* ``import_progress``: bulk-import bookkeeping, 30 days by default;
* ``sightings``: who was seen at which camera, 24 hours by default
  (SECURITY.md promise 11). Each sighting carries its own expiry, set when
  it is written from the camera's, the watchlist's or this default
  retention, so the purge deletes those whose expiry has passed; and those
  the retention in force now has ended (given per camera and watchlist by
  the caller), so a retention shortened later holds for what is kept;
* ``crowd_buckets``: anonymous crowd counts per camera and time bucket
  (counts, dwell histograms, heatmaps) and occupancy alerts (a camera's
  count that reached the threshold), 365 days by default. Anonymous, but
  stored as counted, small counts included (suppression is applied when they
  are published), and a camera writes one a minute: never kept unbounded;
* ``history_requests``: location-history requests (who asked for whose
  movements, under which case, who approved or refused it), 31 days after
  they were made: the requests are listed that long, and an approval is of
  use that long (the audit log keeps that each was made and decided);
* ``sessions`` and ``lockouts``: sign-in sessions and failed-sign-in
  counters, each with its own end (the session's expiry, the counter's
  forget time). They were also deleted when someone next signed in or
  failed to; the purge deletes them whether or not anyone does.

Not purged, and why: the audit log (accountability; hash-chained, it keeps
no personal value in clear); subjects, watchlists and cameras (kept until
someone deletes them, or by ``subjects``' retention above); users and API
keys (disabled or revoked, never deleted: the audit log names them);
whatever hangs off a subject or a camera goes with it, and an alert's
decision with its sighting.

A purge only deletes rows; the caller then compacts the store (checkpoint
and vacuum) so the bytes leave the disk too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from facewarden.config import Settings
from facewarden.store.base import Transaction

__all__ = [
    "CROWD",
    "HISTORY_REQUESTS",
    "HISTORY_REQUEST_RETENTION",
    "IMPORT_PROGRESS",
    "LOCKOUTS",
    "PHOTOS",
    "SESSIONS",
    "SIGHTINGS",
    "SUBJECTS",
    "PurgeReport",
    "RetentionPolicy",
    "SightingCutoff",
    "policies_from_settings",
    "purge",
    "purge_sightings",
]

SUBJECTS = "subjects"
PHOTOS = "enrollment_photos"
IMPORT_PROGRESS = "import_progress"
SIGHTINGS = "sightings"
CROWD = "crowd_buckets"
HISTORY_REQUESTS = "history_requests"
SESSIONS = "sessions"
LOCKOUTS = "lockouts"
HISTORY_REQUEST_RETENTION = timedelta(days=31)
"""How long a location-history request is kept (and listed, and its approval of use)."""
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
        RetentionPolicy(
            CROWD,
            _days(settings.crowd_retention_days),
            "anonymous crowd counts per camera and time bucket (counts, dwell, heatmaps) "
            "and occupancy alerts (a count that reached the threshold)",
        ),
        RetentionPolicy(
            HISTORY_REQUESTS,
            HISTORY_REQUEST_RETENTION,
            "location-history requests, their sealed reasons and decisions",
        ),
        RetentionPolicy(
            SESSIONS,
            timedelta(minutes=settings.session_minutes),
            "sign-in sessions (each deleted once it has expired)",
        ),
        RetentionPolicy(
            LOCKOUTS,
            None,
            "failed sign-in counters, keyed hashes of address and account "
            "(each deleted once the limiter forgets it)",
        ),
    )


Deleter = Callable[[Transaction, datetime], int]


@dataclass(frozen=True)
class SightingCutoff:
    """Sightings at ``camera_id`` against ``watchlist_id`` last seen at or before
    ``last_seen`` have outlived the retention in force now."""

    camera_id: str
    watchlist_id: str
    last_seen: datetime


def purge_sightings(tx: Transaction, now: datetime, cutoffs: Sequence[SightingCutoff]) -> int:
    """Delete the sightings whose own expiry has passed, and those the retention in force
    now has ended (a retention shortened since they were written); returns how many."""
    deleted = tx.delete_sightings_expired(now)
    for cut in cutoffs:
        deleted += tx.delete_sightings_seen_before(cut.camera_id, cut.watchlist_id, cut.last_seen)
    return deleted


# Rows that each carry their own end, deleted once it has passed (given now): a
# session its expiry, a lockout its forget time. (A sighting carries its own
# too; it is purged by purge_sightings.)
_OWN_END: dict[str, Deleter] = {
    SESSIONS: lambda tx, now: tx.delete_sessions_before(now),
    LOCKOUTS: lambda tx, now: tx.forget_lockouts(now, keep=None),
}
# Rows deleted once older than their class's age (given the cutoff).
_BY_AGE: dict[str, Deleter] = {
    PHOTOS: lambda tx, cutoff: tx.delete_photos_before(cutoff),
    IMPORT_PROGRESS: lambda tx, cutoff: tx.delete_imports_before(cutoff),
    CROWD: lambda tx, cutoff: tx.delete_crowd_buckets_before(cutoff),
    HISTORY_REQUESTS: lambda tx, cutoff: tx.delete_history_requests_before(cutoff),
}


def purge(
    tx: Transaction,
    policies: tuple[RetentionPolicy, ...],
    now: datetime,
    erase_subject: EraseSubject,
    sighting_cutoffs: Sequence[SightingCutoff] = (),
    keep_subject: Callable[[str], bool] = lambda _subject_id: False,
) -> PurgeReport:
    """Delete every expired row, inside the caller's transaction.

    Args:
        tx: the transaction to work in.
        policies: the policy table.
        now: the current time (from the deployment's clock).
        erase_subject: erases one expired subject (audited, with a tombstone).
        sighting_cutoffs: per camera and watchlist, when a sighting last seen
            then has outlived the retention in force now.
        keep_subject: whether an expired subject is kept all the same (one whose
            processing is restricted, GDPR Art. 18: storage is what it allows).
    """
    deleted: dict[str, int] = {}
    erased: list[str] = []
    for policy in policies:
        name = policy.data_class
        if name == SIGHTINGS:
            deleted[SIGHTINGS] = purge_sightings(tx, now, sighting_cutoffs)
            continue
        if name in _OWN_END:
            deleted[name] = _OWN_END[name](tx, now)
            continue
        if name not in _BY_AGE and name != SUBJECTS:
            raise ValueError(f"no purger for data class {name!r}")
        cutoff = policy.cutoff(now)
        if cutoff is None:
            continue
        if name != SUBJECTS:
            deleted[name] = _BY_AGE[name](tx, cutoff)
            continue
        kept: set[str] = set()
        # The kept stay expired: each batch asks for that many more, so the rest are reached.
        while batch := [
            s
            for s in tx.subjects_updated_before(cutoff, limit=_SUBJECT_BATCH + len(kept))
            if s not in kept
        ]:
            for subject_id in batch:
                if keep_subject(subject_id):
                    kept.add(subject_id)
                    continue
                erase_subject(subject_id)
                erased.append(subject_id)
        deleted[SUBJECTS] = len(erased)
    return PurgeReport(now, deleted, tuple(erased))
