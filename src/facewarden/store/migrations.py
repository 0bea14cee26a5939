"""Schema migrations of the embedded SQLite store.

Each migration is a numbered list of statements applied in one transaction
together with its row in ``schema_version``, so a crash leaves the schema at
one version or the next, never between. Migrations only ever append: a
released one is never edited, a later one changes what it made.

Design notes for the tables:

* personal values live only as ciphertext (``subject_fields``, ``faces.template``,
  ``photos``); ``subjects.id_index`` is a keyed blind-index token;
* ``audit_log.pos`` is the storage order and ``seq`` the chain's own number,
  so a reordered log is seen as such by the verifier;
* ``import_progress`` keys are keyed hashes of source paths, which may hold names;
* erasing a subject cascades to everything hung off it. Sightings (a later
  migration) will hang off subjects the same way;
* version 2: ``users``, ``api_keys`` and ``sessions`` hold only hashes of
  secrets (argon2id for passwords, SHA-256 for 256-bit tokens);
  ``subject_aliases`` maps keyed tokens of external names (CompreFace
  subject names) to subjects, and goes with its subject;
* version 3: ``sightings`` hang off their subject and camera and carry their
  own ``expires_at`` (the purge deletes by it); ``crowd_buckets`` hold
  aggregates only; ``history_requests`` are location-history requests
  waiting for (or given) a second person's approval;
* version 4: a camera's source (a stream URL often carries a user name and
  password, and names the camera network) is stored only sealed, in
  ``cameras.sealed_source`` (AES-256-GCM, bound to the camera id). The
  plaintext column of version 3 is renamed ``legacy_source``: a migration
  holds no keys, so it cannot seal what is there; the service seals each
  remaining value and clears it the first time the cameras are read
  (:meth:`facewarden.service.cameras.Cameras.seal_legacy_sources`). Nothing
  writes the column any more; a later migration may drop it;
* version 5: ``face_vectors`` is PostgreSQL's pgvector copy of the protected
  templates (see :mod:`facewarden.store._pg_schema`); on SQLite the table
  exists, to keep the two schemas alike, and stays empty;
* version 6: ``alert_decisions`` (an operator's acknowledgement or dismissal
  of an alert, with a sealed note) hang off their sighting and go with it;
  ``history_request_notes`` (a request's sealed reason, its refusal) hang
  off their request, which hangs off its subject.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MIGRATIONS", "Migration", "latest_version"]


@dataclass(frozen=True)
class Migration:
    """One schema step."""

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "subjects, faces, photos, watchlists, audit log, import progress",
        (
            """CREATE TABLE meta (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )""",
            """CREATE TABLE subjects (
                subject_id TEXT PRIMARY KEY,
                wrapped_key BLOB NOT NULL,
                id_index TEXT UNIQUE,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )""",
            "CREATE INDEX subjects_updated ON subjects(updated_at)",
            """CREATE TABLE subject_fields (
                subject_id TEXT NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
                field TEXT NOT NULL,
                ciphertext BLOB NOT NULL,
                PRIMARY KEY (subject_id, field)
            ) WITHOUT ROWID""",
            """CREATE TABLE faces (
                face_id TEXT PRIMARY KEY,
                subject_id TEXT NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
                model TEXT NOT NULL,
                template BLOB NOT NULL,
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX faces_subject ON faces(subject_id)",
            """CREATE TABLE photos (
                face_id TEXT PRIMARY KEY REFERENCES faces(face_id) ON DELETE CASCADE,
                ciphertext BLOB NOT NULL,
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX photos_created ON photos(created_at)",
            """CREATE TABLE watchlists (
                watchlist_id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                purpose TEXT NOT NULL,
                lawful_basis TEXT NOT NULL,
                fmr REAL NOT NULL,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE memberships (
                watchlist_id TEXT NOT NULL
                    REFERENCES watchlists(watchlist_id) ON DELETE CASCADE,
                subject_id TEXT NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
                added_at TEXT NOT NULL,
                PRIMARY KEY (watchlist_id, subject_id)
            ) WITHOUT ROWID""",
            "CREATE INDEX memberships_subject ON memberships(subject_id)",
            """CREATE TABLE audit_log (
                pos INTEGER PRIMARY KEY,
                seq INTEGER NOT NULL UNIQUE,
                ts TEXT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                object_type TEXT NOT NULL,
                object_id TEXT NOT NULL,
                purpose TEXT NOT NULL,
                outcome TEXT NOT NULL,
                details TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                entry_hash TEXT NOT NULL
            )""",
            "CREATE INDEX audit_object ON audit_log(object_id)",
            """CREATE TABLE import_progress (
                source_key TEXT PRIMARY KEY,
                subject_id TEXT NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
                done_at TEXT NOT NULL
            )""",
            "CREATE INDEX import_progress_subject ON import_progress(subject_id)",
        ),
    ),
    Migration(
        2,
        "users, API keys, sessions, subject aliases",
        (
            """CREATE TABLE users (
                username TEXT PRIMARY KEY,
                password_hash TEXT NOT NULL,
                role TEXT NOT NULL,
                created_at TEXT NOT NULL,
                disabled INTEGER NOT NULL DEFAULT 0
            )""",
            """CREATE TABLE api_keys (
                key_id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                role TEXT NOT NULL,
                secret_hash TEXT NOT NULL,
                created_at TEXT NOT NULL,
                expires_at TEXT,
                revoked_at TEXT,
                created_by TEXT NOT NULL
            )""",
            """CREATE TABLE sessions (
                token_hash TEXT PRIMARY KEY,
                username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL
            )""",
            "CREATE INDEX sessions_user ON sessions(username)",
            "CREATE INDEX sessions_expiry ON sessions(expires_at)",
            """CREATE TABLE subject_aliases (
                kind TEXT NOT NULL,
                token TEXT NOT NULL,
                subject_id TEXT NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
                created_at TEXT NOT NULL,
                PRIMARY KEY (kind, token),
                UNIQUE (kind, subject_id)
            ) WITHOUT ROWID""",
            "CREATE INDEX subject_aliases_subject ON subject_aliases(subject_id)",
        ),
    ),
    Migration(
        3,
        "cameras, sightings, location-history requests, crowd buckets",
        (
            """CREATE TABLE cameras (
                camera_id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                location TEXT NOT NULL,
                latitude REAL,
                longitude REAL,
                watchlists TEXT NOT NULL,
                sensitive INTEGER NOT NULL,
                retention_hours INTEGER,
                source TEXT,
                keep_thumbnails INTEGER NOT NULL,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE sightings (
                sighting_id TEXT PRIMARY KEY,
                subject_id TEXT NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
                camera_id TEXT NOT NULL REFERENCES cameras(camera_id) ON DELETE CASCADE,
                watchlist_id TEXT NOT NULL,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                best_similarity REAL NOT NULL,
                expires_at TEXT NOT NULL,
                thumbnail BLOB
            )""",
            "CREATE INDEX sightings_subject ON sightings(subject_id, last_seen)",
            "CREATE INDEX sightings_camera ON sightings(camera_id, first_seen)",
            "CREATE INDEX sightings_expiry ON sightings(expires_at)",
            """CREATE TABLE history_requests (
                request_id TEXT PRIMARY KEY,
                subject_id TEXT NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
                hours INTEGER NOT NULL,
                case_reference TEXT NOT NULL,
                requested_by TEXT NOT NULL,
                created_at TEXT NOT NULL,
                approved_by TEXT,
                approved_at TEXT
            )""",
            """CREATE TABLE crowd_buckets (
                camera_id TEXT NOT NULL REFERENCES cameras(camera_id) ON DELETE CASCADE,
                start TEXT NOT NULL,
                seconds INTEGER NOT NULL,
                frames INTEGER NOT NULL,
                faces_max INTEGER NOT NULL,
                faces_mean REAL NOT NULL,
                people_max INTEGER NOT NULL,
                people_mean REAL NOT NULL,
                unique_visitors INTEGER NOT NULL,
                dwell TEXT NOT NULL,
                heatmap TEXT NOT NULL,
                PRIMARY KEY (camera_id, start)
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        4,
        "camera sources sealed at rest",
        (
            "ALTER TABLE cameras ADD COLUMN sealed_source BLOB",
            "ALTER TABLE cameras RENAME COLUMN source TO legacy_source",
        ),
    ),
    Migration(
        5,
        "protected templates in a pgvector column",
        (
            # PostgreSQL's pgvector table; kept empty here (the in-memory
            # gallery serves SQLite), so both backends have the same tables.
            """CREATE TABLE face_vectors (
                face_id TEXT PRIMARY KEY REFERENCES faces(face_id) ON DELETE CASCADE,
                subject_id TEXT NOT NULL,
                model TEXT NOT NULL,
                embedding BLOB NOT NULL
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        6,
        "alert decisions and location-history request notes",
        (
            """CREATE TABLE alert_decisions (
                sighting_id TEXT PRIMARY KEY
                    REFERENCES sightings(sighting_id) ON DELETE CASCADE,
                decision TEXT NOT NULL,
                decided_by TEXT NOT NULL,
                decided_at TEXT NOT NULL,
                note BLOB
            ) WITHOUT ROWID""",
            """CREATE TABLE history_request_notes (
                request_id TEXT PRIMARY KEY
                    REFERENCES history_requests(request_id) ON DELETE CASCADE,
                reason BLOB,
                refused_by TEXT,
                refused_at TEXT
            ) WITHOUT ROWID""",
            "CREATE INDEX history_requests_created ON history_requests(created_at)",
        ),
    ),
)


def latest_version() -> int:
    """The schema version this code writes."""
    return MIGRATIONS[-1].version
