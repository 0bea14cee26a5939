"""The Warden: one open deployment, the object the CLI and the HTTP server both use.

::

    with Warden.open(Settings.load(), actor="cli:alice") as warden:
        wl = warden.watchlists.create("entrance", purpose="site access control",
                                      lawful_basis="GDPR art. 6(1)(f)")
        enrolled = warden.registry.enroll(record, ["alice.jpg"], watchlists=["entrance"])
        result = warden.recognition.identify("door.jpg", "entrance")

Opening checks everything before the first request: the key directory
(private modes, and that it holds *this* database's keys), the database file
(migrated, and SQLite's quick check) and an interrupted template rotation
(settled): see :mod:`facewarden.service.opening`. The gallery (every
template decrypted into an exact index) loads at the first search, or at
:meth:`Warden.warm_up`. The use cases are grouped by concern:
``registry``, ``faces``, ``watchlists``, ``recognition``,
``audit``, ``keys``, ``bulk``, ``access`` (users, keys, sessions), ``listings``,
``cameras``, ``sightings`` and ``crowd`` (cameras, sightings, crowd aggregates),
``compreface``, ``compreface_examples`` and ``compreface_match`` (the
CompreFace-compatible API);
plus :meth:`Warden.purge` and :meth:`Warden.integrity_check`.

:meth:`with_actor` gives a view acting for someone else (one per API
request) that shares everything, the gallery included. :meth:`close` is
idempotent; anything used after it raises.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import Any

from facewarden.config import Settings
from facewarden.errors import FacewardenError, IntegrityError, KeyMaterialError, NotFoundError
from facewarden.privacy.clock import Clock, utc_now
from facewarden.privacy.crypto import WrappedKey
from facewarden.privacy.keys import KeyRing
from facewarden.privacy.retention import (
    HISTORY_REQUESTS,
    IMPORT_PROGRESS,
    PHOTOS,
    SIGHTINGS,
    SUBJECTS,
    PurgeReport,
    SightingCutoff,
    policies_from_settings,
    purge,
)
from facewarden.service.access import Access
from facewarden.service.alert_desk import AlertDesk
from facewarden.service.alert_feed import AlertFeed
from facewarden.service.audit import AuditLog
from facewarden.service.backup import BackupReport, write_backup, write_raw_copy
from facewarden.service.bulk import BulkImporter
from facewarden.service.cameras import Cameras
from facewarden.service.compaction import compact_due, note_compaction_due
from facewarden.service.compreface import CompreFaceCollection
from facewarden.service.compreface_examples import CompreFaceExamples
from facewarden.service.compreface_match import CompreFaceMatcher
from facewarden.service.context import Context
from facewarden.service.crowd_report import CrowdReports
from facewarden.service.erasure import ErasureReport, migrate_subject_keys, reapply_erasures
from facewarden.service.faces import FaceEditor
from facewarden.service.history_requests import HistoryRequests
from facewarden.service.id_reindex import rebuild_id_tokens
from facewarden.service.keys import KeyAdmin
from facewarden.service.listing import Listings
from facewarden.service.opening import (
    build_context,
    check_key_placement,
    database_path,
    open_keyring,
)
from facewarden.service.private_files import sweep_scratch
from facewarden.service.processing_report import build_processing_report
from facewarden.service.ratelimit import AuthLimiter
from facewarden.service.recognition import Recognition
from facewarden.service.refusals import write_summaries
from facewarden.service.registry import Registry
from facewarden.service.restriction import Restrictions, restricted_among
from facewarden.service.review_photos import ReviewPhotos
from facewarden.service.revocation import RevocationReport, reapply_revocations
from facewarden.service.sightings import Sightings
from facewarden.service.watchlist_admin import WatchlistAdmin
from facewarden.service.watchlists import Watchlists
from facewarden.store.base import Store
from facewarden.store.postgres import is_postgres_url, open_postgres
from facewarden.store.sqlite import open_sqlite
from facewarden.vision.pipeline import Pipeline

__all__ = ["Warden"]

logger = logging.getLogger(__name__)


class Warden:
    """An open deployment; build it with :meth:`open`."""

    def __init__(self, ctx: Context, actor: str) -> None:
        self._ctx = ctx
        self._actor = actor
        self.audit = AuditLog(ctx, actor)
        self.registry = Registry(ctx, self.audit)
        self.watchlists = Watchlists(ctx, self.audit)
        self.recognition = Recognition(ctx, self.audit)
        self.keys = KeyAdmin(ctx, self.audit)
        self.faces = FaceEditor(ctx, self.audit)
        self.bulk = BulkImporter(ctx, self.registry, self.audit)
        self.access = Access(ctx, self.audit)
        self.listings = Listings(ctx, self.audit)
        self.cameras = Cameras(ctx, self.audit)
        self.sightings = Sightings(ctx, self.audit)
        self.alert_desk = AlertDesk(ctx, self.audit, self.sightings)
        self.alert_feed = AlertFeed(ctx, self.audit, self.sightings, self.alert_desk.window)
        self.history_requests = HistoryRequests(ctx, self.audit)
        self.restrictions = Restrictions(ctx, self.audit)
        self.review_photos = ReviewPhotos(ctx, self.audit)
        self.watchlist_admin = WatchlistAdmin(ctx, self.audit, self.watchlists)
        self.crowd = CrowdReports(ctx)
        self.compreface = CompreFaceCollection(ctx, self.audit, self.registry, self.watchlists)
        self.compreface_examples = CompreFaceExamples(
            ctx, self.audit, self.registry, self.faces, self.compreface
        )
        self.compreface_match = CompreFaceMatcher(ctx, self.audit, self.compreface)
        self.revocations_reapplied = RevocationReport()
        """What opening re-applied from the revocation ledger (see :meth:`reapply_revocations`)."""

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        pipeline: Pipeline | None = None,
        enroll_pipeline: Pipeline | None = None,
        actor: str = "cli",
        create: bool = False,
    ) -> Warden:
        """Open (or, with ``create``, initialise) the deployment ``settings`` describe.

        Args:
            settings: where the data and keys are, and how to work.
            clock: the time source for audit entries and retention (tests inject one).
            pipeline: the identification pipeline (default: ``settings.mode``).
            enroll_pipeline: the enrollment and 1:1 pipeline (default: ``settings.enroll_mode``).
            actor: who acts, as audit entries will name them.
            create: create the database and the key directory when missing.

        Raises:
            NotFoundError: no database (and not ``create``).
            KeyMaterialError: keys missing, exposed, or not this database's.
            IntegrityError: the database file is damaged.
            ConfigError: the key directory is inside the data directory, or the
                PostgreSQL server (``settings.database_url``) is configured unsafely.
            DatabaseUnavailableError: the PostgreSQL server cannot be reached.
        """
        check_key_placement(settings)
        if settings.database_url is not None and is_postgres_url(settings.database_url):
            return cls._open_postgres(
                settings.database_url,
                settings,
                clock,
                pipeline,
                enroll_pipeline,
                actor=actor,
                create=create,
            )
        db = database_path(settings)
        key_dir = settings.resolved_key_dir
        if not db.exists() and not create:
            raise NotFoundError(
                f"no facewarden database at {db}; create one with "
                "`facewarden init` (or point --data-dir at it)"
            )
        keyring = open_keyring(key_dir, db, create=create)
        store = open_sqlite(db, create=create, quick_check=settings.check_database_on_open)
        try:
            return cls._settled(
                build_context(settings, store, keyring, clock, pipeline, enroll_pipeline, actor),
                actor,
            )
        except BaseException:
            store.close()
            raise

    @classmethod
    def _open_postgres(
        cls,
        url: str,
        settings: Settings,
        clock: Clock,
        pipeline: Pipeline | None,
        enroll_pipeline: Pipeline | None,
        *,
        actor: str,
        create: bool,
    ) -> Warden:
        # The URL names the database; the key directory still lives on this
        # host, and the key check proves it holds *this* database's keys.
        store = open_postgres(url, create=create)
        try:
            keyring = KeyRing.open(settings.resolved_key_dir, create=create)
            return cls._settled(
                build_context(settings, store, keyring, clock, pipeline, enroll_pipeline, actor),
                actor,
            )
        except BaseException:
            store.close()
            raise

    @classmethod
    def _settled(cls, ctx: Context, actor: str) -> Warden:
        # Every subject on a KEK of its own, and every erasure and revocation the
        # ledgers record applied here (interrupted, or made after the backup this
        # was restored from), before anything is served.
        warden = cls(ctx, actor)
        warden._sweep_scratch()
        migrate_subject_keys(ctx)
        warden.reapply_erasures()
        # A restored archive's ID-number tokens, left out of it, from the subjects
        # still here: after the erasures, whose ID numbers no longer open.
        rebuild_id_tokens(ctx.store, ctx.envelope)
        warden.revocations_reapplied = warden.reapply_revocations()
        return warden

    def reapply_revocations(self) -> RevocationReport:
        """Re-apply to a restored database the access revocations made since its backup.

        Runs at every open: API keys revoked, users disabled and passwords
        changed after the backup, recorded in the revocation ledger (in the key
        directory), hold again. See :mod:`facewarden.service.revocation`.

        Raises:
            IntegrityError: the revocation ledger fails authentication.
        """
        return reapply_revocations(self._ctx, self.audit)

    def reapply_erasures(self) -> ErasureReport:
        """Complete interrupted erasures and re-apply, to a restored database, those made since.

        Runs at every open and purge; call it after restoring a backup into
        a deployment that is already open. Each subject the erasure ledger
        (in the key directory) names and the database still holds is erased
        with a tombstone; every KEK of an erased subject still present is
        destroyed. See :mod:`facewarden.service.erasure`.
        """
        return reapply_erasures(
            self._ctx,
            lambda tx, sid: self.registry.erase_in(
                tx,
                sid,
                purpose="erasure re-applied from the ledger",
                record=False,
                suppress_imports=False,
            ),
        )

    def __enter__(self) -> Warden:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._ctx.closed else "open"
        return f"Warden({self._ctx.store.location!r}, actor={self._actor!r}, {state})"

    @property
    def actor(self) -> str:
        """Who this view acts for."""
        return self._actor

    @property
    def settings(self) -> Settings:
        """The settings it was opened with."""
        return self._ctx.settings

    @property
    def store(self) -> Store:
        """The underlying store (for maintenance and tests; use the services for data)."""
        self._ctx.ensure_open()
        return self._ctx.store

    @property
    def clock(self) -> Clock:
        """The deployment's time source (injected in tests)."""
        return self._ctx.clock

    def auth_limiter(self) -> AuthLimiter:
        """The sign-in and API-key limiters, counting in this deployment's database.

        Every process and host on the database shares the counts; each key
        is stored as an HMAC under the blind-index key, never in the clear.
        """
        return AuthLimiter.from_settings(
            self.settings,
            clock=self.clock,
            store=self.store,
            secret=self._ctx.keyring.blind_index_key,
        )

    @property
    def pipeline(self) -> Pipeline:
        """The identification pipeline (``settings.mode`` unless one was injected)."""
        return self._ctx.pipeline

    @property
    def enroll_pipeline(self) -> Pipeline:
        """The enrollment and 1:1 pipeline (``settings.enroll_mode`` unless injected)."""
        return self._ctx.enroll_pipeline

    def warm_up(self) -> int:
        """Load the gallery now rather than at the first search; returns its template count.

        A server calls it at start so the first request does not pay for
        decrypting every template (about 4 s per 100,000 on one core).
        """
        self._ctx.refresh(need_gallery=True)
        return self._ctx.gallery.template_count

    @property
    def key_dir(self) -> Path:
        """The key directory in use."""
        return self._ctx.keyring.path

    def with_actor(self, actor: str) -> Warden:
        """A view of the same open deployment acting for ``actor`` (e.g. one API user)."""
        self._ctx.ensure_open()
        return Warden(self._ctx, actor)

    def purge(self) -> PurgeReport:
        """Delete what the retention policies say has expired, then compact the store.

        First, erasures the ledger records are completed (see
        :meth:`reapply_erasures`): no KEK of an erased subject survives a purge.
        Expired subjects are erased (with a tombstone each); the purge itself
        is one audit entry. Afterwards the store rewrites what it deleted from
        (SQLite: the file; PostgreSQL: those tables and the tables the
        deletions cascaded into, every table a subject reaches when subjects
        were erased, by this purge or since the last one) and cuts its log,
        so the deleted bytes leave the disk.

        The expired subjects are erased all or none, whenever the process
        dies: they go into the erasure ledger as one record, the last write
        before the commit. Killed before it, the transaction rolls back and
        every one is still there; killed after it (before or after the
        commit), the next open erases every one and destroys their KEKs. The
        compaction only rewrites what is already committed; killed before it
        is done, it is due at the next purge (:mod:`facewarden.service.compaction`).
        """
        ctx = self._ctx
        self._sweep_scratch()  # a killed backup's copy may hold what expires now
        self.reapply_erasures()
        now = ctx.clock()
        # The retention each camera and watchlist has now, for the sightings written
        # under a longer one (their own expiry says when they were meant to go).
        cutoffs = [
            SightingCutoff(
                camera.camera_id, watchlist_id, now - self.sightings.retention(camera, watchlist_id)
            )
            for camera in ctx.store.list_cameras()
            for watchlist_id in camera.watchlists
        ]
        with ctx.writing(gallery_changes=True) as tx:
            report = purge(
                tx,
                policies_from_settings(ctx.settings),
                now,
                lambda sid: self.registry.erase_in(
                    tx, sid, purpose="retention", record=False, suppress_imports=False
                ),
                cutoffs,
                # Art. 18: a restricted person is kept (a legal claim, an objection
                # being settled), until the restriction is lifted.
                lambda sid: bool(restricted_among(tx, (sid,))),
            )
            self.audit.append(
                tx, "retention.purge", purpose="retention", details=dict(report.deleted)
            )
            self.registry.record_erasures(tx, report.erased_subjects)
            due = note_compaction_due(tx, _purged_tables(report))
        compact_due(ctx, due)
        return report

    def _sweep_scratch(self) -> None:
        """Remove the scratch copies of the database that killed backups left in the data
        directory (:func:`~facewarden.service.private_files.sweep_scratch`).

        At open, before each backup and each purge: such a copy holds the
        database as it was, so it must not outlive what is deleted since.
        """
        data_dir = self._ctx.settings.data_dir
        try:
            removed = sweep_scratch(data_dir) if data_dir.is_dir() else 0
        except OSError as exc:  # the data directory unreadable: the store reports it
            logger.warning("could not look for stale scratch copies in %s: %s", data_dir, exc)
            return
        if removed:
            logger.warning(
                "removed %d scratch copy folder(s) of the database that a killed backup left in %s",
                removed,
                data_dir,
            )

    def processing_report(self) -> dict[str, Any]:
        """The records-of-processing report of this deployment, as it is configured now (audited).

        See :mod:`facewarden.service.processing_report` (``to_markdown`` renders it).
        """
        return build_processing_report(self._ctx, self.audit)

    def backup(self, destination: str | Path) -> None:
        """Write a consistent, key-free copy of the database to a new file (audited).

        Everything personal in it stays encrypted; restoring it needs the key
        directory, which is backed up separately (and kept apart). No subject's
        ID-number token is in it (:func:`~facewarden.service.backup.write_raw_copy`).

        Raises:
            ConflictError: the destination exists.
        """
        self.audit.record("backup", purpose="backup")
        self._sweep_scratch()
        write_raw_copy(self._ctx.store, str(destination))

    def backup_archive(self, destination: str | Path) -> BackupReport:
        """Write an encrypted, self-checking archive of the database (audited).

        The archive holds no key: it is encrypted under a key derived from the
        active master key, so restoring it (:func:`facewarden.service.backup.restore`)
        needs the key directory, backed up apart from it.

        Raises:
            ConflictError: the destination exists.
        """
        self._ctx.ensure_open()
        self._sweep_scratch()
        return write_backup(self, self._ctx.keyring, Path(destination))

    def integrity_check(self) -> list[str]:
        """The store's full consistency check, the audit chain and the revocation ledger.

        Empty when all is well. A damaged revocation ledger is found here, not
        first when a restore needs it (the restored deployment would not open).
        """
        self._ctx.ensure_open()
        problems = list(self._ctx.store.integrity_check())
        verification = self.audit.verify()
        if not verification.ok:
            problems.append(f"audit log: {verification.report.problem}")
        try:
            self._ctx.keyring.revocations.since(0)
        except IntegrityError as exc:
            problems.append(f"revocation ledger: {exc.message}")
        problems += self._unreadable_subjects()
        return problems

    def _unreadable_subjects(self) -> list[str]:
        # Each subject's data key is wrapped by its own KEK (or, before those, a
        # master key) in the key directory: a directory restored from a copy older
        # than the subject, or a bucket sealed with a destroyed master key, leaves
        # the subject unreadable while the rest opens as before.
        keyring = self._ctx.keyring
        keyring.reload()
        problems = []
        for subject_id, raw in self._ctx.store.iter_wrapped_keys():
            wrapping = WrappedKey.from_bytes(raw).master_key_id
            try:
                keyring.master_key(wrapping)
            except (KeyMaterialError, IntegrityError) as exc:
                problems.append(
                    f"subject {subject_id}: its data key is wrapped by {wrapping}, which the "
                    f"key directory {keyring.path} cannot give ({exc.message})"
                )
        return problems

    def close(self) -> None:
        """Close the store; idempotent. Every later call on this Warden (and its views) raises."""
        ctx = self._ctx
        with ctx.lock:
            if not ctx.closed:
                try:
                    # The counts of refusals during lockouts still under way: their summary.
                    write_summaries(ctx, self.audit, ctx.refusals.drain())
                except FacewardenError as exc:  # a store that is gone must not stop a close
                    logger.warning("refusals during lockouts not summarised at close: %s", exc)
                finally:
                    ctx.closed = True
                    ctx.store.close()


# Where each retention class deletes rows; an erased subject's rows are in many
# tables (it cascades), so subjects mean every table.
# Not compacted: crowd buckets (anonymous aggregates; on PostgreSQL the rewrite of
# the largest table, every hour, would hold the cameras' bucket writes for minutes),
# sessions and lockouts (hashes, no subject's data; the console reads sessions on
# every request). Their rows are deleted; their space is reused as usual.
_CLASS_TABLES = {
    PHOTOS: "photos",
    IMPORT_PROGRESS: "import_progress",
    SIGHTINGS: "sightings",
    HISTORY_REQUESTS: "history_requests",
}


def _purged_tables(report: PurgeReport) -> list[str] | None:
    """The tables a purge deleted rows from (None: every table)."""
    if report.deleted.get(SUBJECTS):
        return None
    return [_CLASS_TABLES[c] for c, n in report.deleted.items() if n and c in _CLASS_TABLES]
