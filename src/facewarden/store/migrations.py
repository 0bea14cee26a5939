"""Schema migrations: one numbered sequence for both backends, and applying it.

Each migration is a numbered list of statements applied in one transaction
together with its row in ``schema_version``, so a crash leaves the schema at
one version or the next, never between. Migrations only ever append: a
released one is never edited, a later one changes what it made
(``tests/store/test_migrations.py`` pins what versions 1..9 make).

The statements are written once, with ``{placeholders}`` where the backends
spell a column type differently; a :class:`SchemaDialect` fills them in and
adds the few statements only one backend runs. SQLite's is here
(:data:`MIGRATIONS`); PostgreSQL's, with pgvector, is in
:mod:`facewarden.store._pg_schema`. Each store opens the transaction
(SQLite's ``BEGIN IMMEDIATE``; PostgreSQL's, holding the migrations' advisory
lock), checks the database is facewarden's or empty, then calls :func:`apply`.

What the tables keep, and what hangs off what, is the contract of
:mod:`facewarden.store.base`, ``access``, ``cameras`` and ``desk``. Notes on
the schema itself:

* ``audit_log.pos`` is the storage order and ``seq`` the chain's own number,
  so a reordered log is seen as such by the verifier;
* ``import_progress`` keys are keyed hashes of source paths, which may hold names;
* version 4: a camera's source (a stream URL often carries a user name and
  password) is stored only sealed, in ``cameras.sealed_source``. The
  plaintext column of version 3 is renamed ``legacy_source``: a migration
  holds no keys, so it cannot seal what is there; the service seals each
  remaining value and clears it the first time the cameras are read
  (:meth:`facewarden.service.cameras.Cameras.seal_legacy_sources`). Nothing
  writes the column any more; a later migration may drop it;
* version 5: ``face_vectors`` is PostgreSQL's pgvector copy of the protected
  templates; on SQLite the table exists, to keep the two schemas alike, and
  stays empty;
* version 7: ``lockouts`` keys are keyed hashes of limiter keys, which name
  an address and an account (:mod:`facewarden.service.ratelimit`);
* version 8: ``sightings.severity`` is how loud the alert was when it was
  raised, so changing a watchlist later does not rewrite the desk's history;
  sightings recorded before it have none (NULL), and the desk shows the
  watchlist's severity for them;
* version 9: ``alert_notes`` are notes added to an alert after its decision
  (append-only, sealed by the service); each hangs off the decision, so it
  goes with the sighting (expiry, erasure), and none exists without one;
* version 10: ``occupancy_alerts`` are the console's occupancy alerts (a
  camera's people in view reached a threshold: counts only, never a face),
  stored so every server of a deployment reads the same ones; they go with
  their camera and are purged with the crowd counts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from facewarden.errors import ConfigError
from facewarden.store._dialect import Dialect

__all__ = [
    "MIGRATIONS",
    "SQLITE_SCHEMA",
    "STEPS",
    "Migration",
    "SchemaDialect",
    "apply",
    "latest_version",
    "migrations_for",
    "refuse_newer",
    "schema_version_ddl",
    "version_of",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """One schema step: in :data:`STEPS` with placeholders, else ready to run."""

    version: int
    description: str
    statements: tuple[str, ...]


@dataclass(frozen=True)
class SchemaDialect:
    """How one backend writes the shared DDL.

    Attributes:
        types: placeholder -> what the backend writes there: ``key`` (an id
            compared byte-wise), ``text``, ``time``, ``bytes``, ``flag``,
            ``false``, ``int``, ``bigint``, ``real``, ``row_order`` (the audit
            log's storage order), ``vector`` and ``without_rowid`` (a table option).
        before: version -> statements only this backend runs, before the shared ones.
        after: version -> statements only this backend runs, after the shared ones.
    """

    types: Mapping[str, str]
    before: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    after: Mapping[int, tuple[str, ...]] = field(default_factory=dict)


STEPS: tuple[Migration, ...] = (
    Migration(
        1,
        "subjects, faces, photos, watchlists, audit log, import progress",
        (
            """CREATE TABLE meta (
                key {key} PRIMARY KEY,
                value {text} NOT NULL
            )""",
            """CREATE TABLE subjects (
                subject_id {key} PRIMARY KEY,
                wrapped_key {bytes} NOT NULL,
                id_index {text} UNIQUE,
                created_at {time} NOT NULL,
                updated_at {time} NOT NULL
            )""",
            "CREATE INDEX subjects_updated ON subjects(updated_at)",
            """CREATE TABLE subject_fields (
                subject_id {key} NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
                field {text} NOT NULL,
                ciphertext {bytes} NOT NULL,
                PRIMARY KEY (subject_id, field)
            ){without_rowid}""",
            """CREATE TABLE faces (
                face_id {key} PRIMARY KEY,
                subject_id {key} NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
                model {text} NOT NULL,
                template {bytes} NOT NULL,
                created_at {time} NOT NULL
            )""",
            "CREATE INDEX faces_subject ON faces(subject_id)",
            """CREATE TABLE photos (
                face_id {key} PRIMARY KEY REFERENCES faces(face_id) ON DELETE CASCADE,
                ciphertext {bytes} NOT NULL,
                created_at {time} NOT NULL
            )""",
            "CREATE INDEX photos_created ON photos(created_at)",
            """CREATE TABLE watchlists (
                watchlist_id {key} PRIMARY KEY,
                name {key} NOT NULL UNIQUE,
                purpose {text} NOT NULL,
                lawful_basis {text} NOT NULL,
                fmr {real} NOT NULL,
                created_at {time} NOT NULL
            )""",
            """CREATE TABLE memberships (
                watchlist_id {key} NOT NULL
                    REFERENCES watchlists(watchlist_id) ON DELETE CASCADE,
                subject_id {key} NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
                added_at {time} NOT NULL,
                PRIMARY KEY (watchlist_id, subject_id)
            ){without_rowid}""",
            "CREATE INDEX memberships_subject ON memberships(subject_id)",
            # ts is the chain's own text (hashed as written), not a {time}.
            """CREATE TABLE audit_log (
                pos {row_order} PRIMARY KEY,
                seq {bigint} NOT NULL UNIQUE,
                ts {text} NOT NULL,
                actor {text} NOT NULL,
                action {text} NOT NULL,
                object_type {text} NOT NULL,
                object_id {text} NOT NULL,
                purpose {text} NOT NULL,
                outcome {text} NOT NULL,
                details {text} NOT NULL,
                prev_hash {text} NOT NULL,
                entry_hash {text} NOT NULL
            )""",
            "CREATE INDEX audit_object ON audit_log(object_id)",
            """CREATE TABLE import_progress (
                source_key {key} PRIMARY KEY,
                subject_id {key} NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
                done_at {time} NOT NULL
            )""",
            "CREATE INDEX import_progress_subject ON import_progress(subject_id)",
        ),
    ),
    Migration(
        2,
        "users, API keys, sessions, subject aliases",
        (
            """CREATE TABLE users (
                username {key} PRIMARY KEY,
                password_hash {text} NOT NULL,
                role {text} NOT NULL,
                created_at {time} NOT NULL,
                disabled {flag} NOT NULL DEFAULT {false}
            )""",
            """CREATE TABLE api_keys (
                key_id {key} PRIMARY KEY,
                name {text} NOT NULL,
                role {text} NOT NULL,
                secret_hash {text} NOT NULL,
                created_at {time} NOT NULL,
                expires_at {time},
                revoked_at {time},
                created_by {text} NOT NULL
            )""",
            """CREATE TABLE sessions (
                token_hash {key} PRIMARY KEY,
                username {key} NOT NULL REFERENCES users(username) ON DELETE CASCADE,
                created_at {time} NOT NULL,
                expires_at {time} NOT NULL
            )""",
            "CREATE INDEX sessions_user ON sessions(username)",
            "CREATE INDEX sessions_expiry ON sessions(expires_at)",
            """CREATE TABLE subject_aliases (
                kind {key} NOT NULL,
                token {key} NOT NULL,
                subject_id {key} NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
                created_at {time} NOT NULL,
                PRIMARY KEY (kind, token),
                UNIQUE (kind, subject_id)
            ){without_rowid}""",
            "CREATE INDEX subject_aliases_subject ON subject_aliases(subject_id)",
        ),
    ),
    Migration(
        3,
        "cameras, sightings, location-history requests, crowd buckets",
        (
            """CREATE TABLE cameras (
                camera_id {key} PRIMARY KEY,
                name {key} NOT NULL UNIQUE,
                location {text} NOT NULL,
                latitude {real},
                longitude {real},
                watchlists {text} NOT NULL,
                sensitive {flag} NOT NULL,
                retention_hours {int},
                source {text},
                keep_thumbnails {flag} NOT NULL,
                created_at {time} NOT NULL
            )""",
            """CREATE TABLE sightings (
                sighting_id {key} PRIMARY KEY,
                subject_id {key} NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
                camera_id {key} NOT NULL REFERENCES cameras(camera_id) ON DELETE CASCADE,
                watchlist_id {key} NOT NULL,
                first_seen {time} NOT NULL,
                last_seen {time} NOT NULL,
                best_similarity {real} NOT NULL,
                expires_at {time} NOT NULL,
                thumbnail {bytes}
            )""",
            "CREATE INDEX sightings_subject ON sightings(subject_id, last_seen)",
            "CREATE INDEX sightings_camera ON sightings(camera_id, first_seen)",
            "CREATE INDEX sightings_expiry ON sightings(expires_at)",
            """CREATE TABLE history_requests (
                request_id {key} PRIMARY KEY,
                subject_id {key} NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
                hours {int} NOT NULL,
                case_reference {text} NOT NULL,
                requested_by {text} NOT NULL,
                created_at {time} NOT NULL,
                approved_by {text},
                approved_at {time}
            )""",
            """CREATE TABLE crowd_buckets (
                camera_id {key} NOT NULL REFERENCES cameras(camera_id) ON DELETE CASCADE,
                start {time} NOT NULL,
                seconds {int} NOT NULL,
                frames {int} NOT NULL,
                faces_max {int} NOT NULL,
                faces_mean {real} NOT NULL,
                people_max {int} NOT NULL,
                people_mean {real} NOT NULL,
                unique_visitors {int} NOT NULL,
                dwell {text} NOT NULL,
                heatmap {text} NOT NULL,
                PRIMARY KEY (camera_id, start)
            ){without_rowid}""",
        ),
    ),
    Migration(
        4,
        "camera sources sealed at rest",
        (
            "ALTER TABLE cameras ADD COLUMN sealed_source {bytes}",
            "ALTER TABLE cameras RENAME COLUMN source TO legacy_source",
        ),
    ),
    Migration(
        5,
        "protected templates in a pgvector column",
        (
            # PostgreSQL's pgvector copy (its extension and indexes are in
            # _pg_schema); SQLite keeps it empty, so both have the same tables.
            """CREATE TABLE face_vectors (
                face_id {key} PRIMARY KEY REFERENCES faces(face_id) ON DELETE CASCADE,
                subject_id {key} NOT NULL,
                model {text} NOT NULL,
                embedding {vector} NOT NULL
            ){without_rowid}""",
        ),
    ),
    Migration(
        6,
        "alert decisions and location-history request notes",
        (
            """CREATE TABLE alert_decisions (
                sighting_id {key} PRIMARY KEY
                    REFERENCES sightings(sighting_id) ON DELETE CASCADE,
                decision {text} NOT NULL,
                decided_by {text} NOT NULL,
                decided_at {time} NOT NULL,
                note {bytes}
            ){without_rowid}""",
            """CREATE TABLE history_request_notes (
                request_id {key} PRIMARY KEY
                    REFERENCES history_requests(request_id) ON DELETE CASCADE,
                reason {bytes},
                refused_by {text},
                refused_at {time}
            ){without_rowid}""",
            "CREATE INDEX history_requests_created ON history_requests(created_at)",
        ),
    ),
    Migration(
        7,
        "sign-in and API-key lockouts shared by every process",
        (
            """CREATE TABLE lockouts (
                key_hash {key} PRIMARY KEY,
                failures {int} NOT NULL,
                window_end {time},
                locked_until {time},
                strikes {int} NOT NULL,
                forget_at {time} NOT NULL
            ){without_rowid}""",
            "CREATE INDEX lockouts_forget ON lockouts(forget_at)",
        ),
    ),
    Migration(
        8,
        "an alert's severity kept as it was raised",
        ("ALTER TABLE sightings ADD COLUMN severity {text}",),
    ),
    Migration(
        9,
        "notes added to an alert after its decision",
        (
            """CREATE TABLE alert_notes (
                note_id {key} PRIMARY KEY,
                sighting_id {key} NOT NULL
                    REFERENCES alert_decisions(sighting_id) ON DELETE CASCADE,
                written_by {text} NOT NULL,
                written_at {time} NOT NULL,
                note {bytes} NOT NULL
            ){without_rowid}""",
            "CREATE INDEX alert_notes_sighting ON alert_notes(sighting_id, written_at)",
        ),
    ),
    Migration(
        10,
        "occupancy alerts shared by every server",
        (
            """CREATE TABLE occupancy_alerts (
                camera_id {key} NOT NULL REFERENCES cameras(camera_id) ON DELETE CASCADE,
                at {time} NOT NULL,
                people {int} NOT NULL,
                threshold {int} NOT NULL,
                PRIMARY KEY (camera_id, at)
            ){without_rowid}""",
            "CREATE INDEX occupancy_alerts_at ON occupancy_alerts(at)",
        ),
    ),
)


def migrations_for(dialect: SchemaDialect) -> tuple[Migration, ...]:
    """Every step of :data:`STEPS`, written the way ``dialect``'s backend runs it."""
    return tuple(
        Migration(
            step.version,
            step.description,
            (
                *dialect.before.get(step.version, ()),
                *(statement.format_map(dialect.types) for statement in step.statements),
                *dialect.after.get(step.version, ()),
            ),
        )
        for step in STEPS
    )


SQLITE_SCHEMA = SchemaDialect(
    types={
        "key": "TEXT",
        "text": "TEXT",
        # Fixed-width UTC text, which sorts as the times do.
        "time": "TEXT",
        "bytes": "BLOB",
        "flag": "INTEGER",
        "false": "0",
        "int": "INTEGER",
        "bigint": "INTEGER",
        "real": "REAL",
        # "INTEGER PRIMARY KEY" makes the column the rowid: assigned in insert order.
        "row_order": "INTEGER",
        "vector": "BLOB",
        "without_rowid": " WITHOUT ROWID",
    }
)

#: The steps as SQLite runs them.
MIGRATIONS: tuple[Migration, ...] = migrations_for(SQLITE_SCHEMA)


def latest_version() -> int:
    """The schema version this code writes."""
    return STEPS[-1].version


def schema_version_ddl(dialect: Dialect) -> str:
    """The table that records which migrations a database has had (made if missing)."""
    return (
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
        f"description TEXT NOT NULL, applied_at {dialect.time} NOT NULL)"
    )


def version_of(conn: Any, dialect: Dialect) -> int:
    """The schema version of a database: its last migration (0 when none has run)."""
    rows = dialect.fetch(conn, "SELECT COALESCE(MAX(version), 0) AS v FROM schema_version", ())
    return int(rows[0]["v"])


def refuse_newer(version: int, what: object, advice: str) -> None:
    """Refuse a database (or a copy of one) made by a later facewarden.

    Raises:
        ConfigError: ``version`` is newer than :func:`latest_version`; the message
            names ``what`` and ends with ``advice``.
    """
    latest = latest_version()
    if version > latest:
        raise ConfigError(
            f"{what} is at schema version {version}, newer than this facewarden "
            f"understands ({latest}); {advice}"
        )


def apply(conn: Any, dialect: Dialect, migrations: Sequence[Migration], where: object) -> None:
    """Run the ``migrations`` newer than the database's version, inside the open transaction.

    Raises:
        ConfigError: the database is at a version newer than this code's.
    """
    conn.execute(schema_version_ddl(dialect))
    current = version_of(conn, dialect)
    refuse_newer(current, where, "upgrade facewarden")
    for migration in migrations:
        if migration.version <= current:
            continue
        for statement in migration.statements:
            conn.execute(statement)
        dialect.execute(
            conn,
            "INSERT INTO schema_version VALUES (?, ?, ?)",
            (migration.version, migration.description, dialect.time_in(datetime.now(UTC))),
        )
        logger.info("migrated %s to schema version %d", where, migration.version)
