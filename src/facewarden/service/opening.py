"""Opening a deployment: the checks and the wiring done once, before the first request.

Where the database lives (:func:`database_path`), that the key directory is
kept apart from the data (:func:`check_key_placement`) and holds *this*
database's keys, and the shared :class:`~facewarden.service.context.Context`
every use case works through (:func:`build_context`: key checks, an
interrupted template rotation settled, the blind index migrated, the gallery
chosen, the audit log anchored). :class:`~facewarden.service.warden.Warden`
calls these from :meth:`~facewarden.service.warden.Warden.open`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
from pathlib import Path

from facewarden.config import Settings, legacy_key_dir, user_key_dir
from facewarden.errors import ConfigError, IntegrityError, KeyMaterialError
from facewarden.privacy.anchor import HeadAnchor
from facewarden.privacy.audit import AuditChain
from facewarden.privacy.clock import Clock
from facewarden.privacy.crypto import Envelope
from facewarden.privacy.keys import KeyRing
from facewarden.privacy.template import TemplateProtector
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.enrollment import model_key_of
from facewarden.service.gallery import VERSION_KEY, Gallery, IndexPolicy, embedder_of
from facewarden.service.gallery_pg import EMPTIED_KEY, PgVectorGallery
from facewarden.service.id_reindex import reindex_id_numbers
from facewarden.service.keycheck import check_keys, settle_template_key, write_key_checks
from facewarden.store.base import Store
from facewarden.store.postgres import PostgresStore
from facewarden.store.sqlite import DB_NAME
from facewarden.vision.pipeline import Pipeline

__all__ = ["build_context", "check_key_placement", "database_path", "open_keyring"]

logger = logging.getLogger(__name__)


def database_path(settings: Settings) -> Path:
    """Where the embedded database of ``settings`` lives."""
    return settings.data_dir / DB_NAME


def _pipeline(mode: str, settings: Settings) -> Pipeline:
    return dataclasses.replace(Pipeline.from_mode(mode), limits=settings.image_limits)


def check_key_placement(settings: Settings) -> None:
    """Refuse keys inside the data directory; warn where one copy would take both.

    Raises:
        ConfigError: the key directory is the data directory or inside it.
    """
    data_dir, key_dir = settings.data_dir, settings.resolved_key_dir
    data, keys = data_dir.resolve(), key_dir.resolve()
    if keys == data or data in keys.parents:
        raise ConfigError(
            f"the key directory {key_dir} is inside the data directory {data_dir}; "
            "a copy of the data would carry its keys. Set FACEWARDEN_KEY_DIR (--key-dir) "
            "to a directory outside it, or leave it unset for the default in the user's "
            "configuration area"
        )
    if key_dir == legacy_key_dir(data_dir) and settings.key_dir is None:
        logger.warning(
            "the keys are in %s, beside the data directory, where earlier versions put "
            "them by default; move them to %s (or set FACEWARDEN_KEY_DIR)",
            key_dir,
            user_key_dir(data_dir),
        )
    elif data.parent in keys.parents:
        logger.warning(
            "the key directory %s and the data directory %s are both in %s: a copy "
            "(backup) of that folder takes the keys along with the data; keep the keys "
            "elsewhere (FACEWARDEN_KEY_DIR, or unset for the user's configuration area)",
            key_dir,
            data_dir,
            data.parent,
        )


def open_keyring(key_dir: Path, db: Path, *, create: bool) -> KeyRing:
    """The key ring in ``key_dir``, refusing a missing one where ``db`` already holds data.

    Raises:
        KeyMaterialError: the database has data but the key directory is gone.
    """
    has_data = db.exists() and db.stat().st_size > 0
    if has_data and not key_dir.exists():
        raise KeyMaterialError(
            f"key directory {key_dir} does not exist, but database {db} needs the keys it was "
            "created with (new keys cannot read it); point --key-dir (FACEWARDEN_KEY_DIR) at "
            "them or restore them from a backup"
        )
    return KeyRing.open(key_dir, create=create)


def build_context(
    settings: Settings,
    store: Store,
    keyring: KeyRing,
    clock: Clock,
    pipeline: Pipeline | None,
    enroll_pipeline: Pipeline | None,
    actor: str,
) -> Context:
    """Check the keys against ``store``, settle what an interruption left, pick the gallery.

    Raises:
        KeyMaterialError: the keys are not this database's.
        ConfigError: ``gallery_index = "pgvector"`` without PostgreSQL.
    """
    envelope = Envelope(keyring)
    chain = AuditChain.from_keyring(keyring)
    anchor = HeadAnchor(keyring.path, keyring.audit_key)
    identify = pipeline or _pipeline(settings.mode, settings)
    enroll = enroll_pipeline or _pipeline(settings.enroll_mode, settings)
    dim = int(getattr(enroll.embedder, "embedding_dim", 128))
    fresh = store.get_meta("key_check") is None and store.last_audit() is None
    if fresh and store.count_subjects() == 0:
        with store.transaction() as tx:
            write_key_checks(tx, keyring, envelope)
    check_keys(store, keyring, envelope, store.location)
    with store.transaction() as tx:
        settle_template_key(tx, keyring)
    reindexed = reindex_id_numbers(store, envelope)
    protector = TemplateProtector.from_keyring(keyring, dim)
    embedder = embedder_of(model_key_of(identify))
    gallery: Gallery
    if settings.gallery_index == "pgvector":
        if not isinstance(store, PostgresStore):
            raise ConfigError(
                'gallery_index = "pgvector" needs the PostgreSQL store (FACEWARDEN_DATABASE_URL '
                "or FACEWARDEN_POSTGRES=embedded); with SQLite use exact, ann or auto"
            )
        # The database is the index: no template is decrypted at start.
        gallery = PgVectorGallery(store, dim, embedder)
    else:
        gallery = Gallery(dim, embedder, _index_policy(settings))
        if isinstance(store, PostgresStore):
            # Without pgvector no template is kept unencrypted (promise 8):
            # rows an earlier version or an earlier pgvector choice left go now.
            dropped = store.drop_face_vectors()
            if dropped:
                # A running pgvector process (a misconfigured neighbour) sees a new
                # gallery version, and copies the templates in again.
                with store.transaction() as tx:
                    tx.set_meta(EMPTIED_KEY, secrets.token_hex(8))
                    tx.set_meta(VERSION_KEY, secrets.token_hex(8))
                logger.warning(
                    "removed %d unencrypted template(s) from face_vectors: gallery_index is "
                    '%r, not "pgvector" (every process of a deployment must use the same one)',
                    dropped,
                    settings.gallery_index,
                )
    ctx = Context(
        settings,
        store,
        keyring,
        envelope,
        chain,
        protector,
        clock,
        identify,
        enroll,
        gallery,
        anchor=anchor,
    )
    if fresh:
        AuditLog(ctx, actor).record("deployment.init")
    else:
        _anchor_on_first_use(ctx, anchor, actor)
    if reindexed:
        AuditLog(ctx, actor).record("subjects.id_index_migrated", details={"count": reindexed})
    return ctx


def _anchor_on_first_use(ctx: Context, anchor: HeadAnchor, actor: str) -> None:
    """Give a log kept before signed heads existed (or on a new host) its first anchor.

    Trust on first use, recorded in the log itself: from here on a wipe,
    truncation or rollback below this head is detected.
    """
    try:
        missing = anchor.read() is None
    except IntegrityError:
        return  # a damaged anchor is evidence: audit verify reports it
    if missing and ctx.store.last_audit() is not None:
        logger.warning(
            "no signed audit head in %s yet; anchoring the log as it is now", ctx.keyring.path
        )
        AuditLog(ctx, actor).record("audit.anchor")


def _index_policy(settings: Settings) -> IndexPolicy:
    # HNSW indexes are saved (encrypted) beside the SQLite file; with
    # PostgreSQL, in the data directory of this host.
    return IndexPolicy(
        kind=settings.gallery_index,
        ann_min_size=settings.ann_min_size,
        cache_dir=settings.data_dir / "index",
        threads=settings.workers or os.cpu_count() or 1,
    )
