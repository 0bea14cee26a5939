"""Schema migrations of the PostgreSQL store, numbered as the SQLite ones.

Version *n* here makes the same tables, columns and constraints as version
*n* of :mod:`facewarden.store.migrations`, in PostgreSQL's types: ``bytea``
for ciphertexts, ``timestamptz`` for times, ``boolean`` for flags, and a
``bigint`` identity for the audit log's storage order. A migration that adds
tables to one backend adds them to the other under the same number;
``tests/store/test_postgres.py`` checks that the two lists stay aligned.

The pgvector table of :class:`~facewarden.match.pgvector.PgVectorIndex` is
not here: it is an opt-in, derived index, rebuilt from the encrypted
templates and never part of a backup.
"""

from __future__ import annotations

from facewarden.store.migrations import Migration

__all__ = ["PG_MIGRATIONS"]

PG_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "subjects, faces, photos, watchlists, audit log, import progress",
        (
            """CREATE TABLE meta (
                key text COLLATE "C" PRIMARY KEY,
                value text NOT NULL
            )""",
            """CREATE TABLE subjects (
                subject_id text COLLATE "C" PRIMARY KEY,
                wrapped_key bytea NOT NULL,
                id_index text UNIQUE,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            )""",
            "CREATE INDEX subjects_updated ON subjects(updated_at)",
            """CREATE TABLE subject_fields (
                subject_id text COLLATE "C" NOT NULL
                    REFERENCES subjects(subject_id) ON DELETE CASCADE,
                field text NOT NULL,
                ciphertext bytea NOT NULL,
                PRIMARY KEY (subject_id, field)
            )""",
            """CREATE TABLE faces (
                face_id text COLLATE "C" PRIMARY KEY,
                subject_id text COLLATE "C" NOT NULL
                    REFERENCES subjects(subject_id) ON DELETE CASCADE,
                model text NOT NULL,
                template bytea NOT NULL,
                created_at timestamptz NOT NULL
            )""",
            "CREATE INDEX faces_subject ON faces(subject_id)",
            """CREATE TABLE photos (
                face_id text COLLATE "C" PRIMARY KEY
                    REFERENCES faces(face_id) ON DELETE CASCADE,
                ciphertext bytea NOT NULL,
                created_at timestamptz NOT NULL
            )""",
            "CREATE INDEX photos_created ON photos(created_at)",
            """CREATE TABLE watchlists (
                watchlist_id text COLLATE "C" PRIMARY KEY,
                name text COLLATE "C" NOT NULL UNIQUE,
                purpose text NOT NULL,
                lawful_basis text NOT NULL,
                fmr double precision NOT NULL,
                created_at timestamptz NOT NULL
            )""",
            """CREATE TABLE memberships (
                watchlist_id text COLLATE "C" NOT NULL
                    REFERENCES watchlists(watchlist_id) ON DELETE CASCADE,
                subject_id text COLLATE "C" NOT NULL
                    REFERENCES subjects(subject_id) ON DELETE CASCADE,
                added_at timestamptz NOT NULL,
                PRIMARY KEY (watchlist_id, subject_id)
            )""",
            "CREATE INDEX memberships_subject ON memberships(subject_id)",
            """CREATE TABLE audit_log (
                pos bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                seq bigint NOT NULL UNIQUE,
                ts text NOT NULL,
                actor text NOT NULL,
                action text NOT NULL,
                object_type text NOT NULL,
                object_id text NOT NULL,
                purpose text NOT NULL,
                outcome text NOT NULL,
                details text NOT NULL,
                prev_hash text NOT NULL,
                entry_hash text NOT NULL
            )""",
            "CREATE INDEX audit_object ON audit_log(object_id)",
            """CREATE TABLE import_progress (
                source_key text COLLATE "C" PRIMARY KEY,
                subject_id text COLLATE "C" NOT NULL
                    REFERENCES subjects(subject_id) ON DELETE CASCADE,
                done_at timestamptz NOT NULL
            )""",
            "CREATE INDEX import_progress_subject ON import_progress(subject_id)",
        ),
    ),
    Migration(
        2,
        "users, API keys, sessions, subject aliases",
        (
            """CREATE TABLE users (
                username text COLLATE "C" PRIMARY KEY,
                password_hash text NOT NULL,
                role text NOT NULL,
                created_at timestamptz NOT NULL,
                disabled boolean NOT NULL DEFAULT false
            )""",
            """CREATE TABLE api_keys (
                key_id text COLLATE "C" PRIMARY KEY,
                name text NOT NULL,
                role text NOT NULL,
                secret_hash text NOT NULL,
                created_at timestamptz NOT NULL,
                expires_at timestamptz,
                revoked_at timestamptz,
                created_by text NOT NULL
            )""",
            """CREATE TABLE sessions (
                token_hash text COLLATE "C" PRIMARY KEY,
                username text COLLATE "C" NOT NULL
                    REFERENCES users(username) ON DELETE CASCADE,
                created_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL
            )""",
            "CREATE INDEX sessions_user ON sessions(username)",
            "CREATE INDEX sessions_expiry ON sessions(expires_at)",
            """CREATE TABLE subject_aliases (
                kind text COLLATE "C" NOT NULL,
                token text COLLATE "C" NOT NULL,
                subject_id text COLLATE "C" NOT NULL
                    REFERENCES subjects(subject_id) ON DELETE CASCADE,
                created_at timestamptz NOT NULL,
                PRIMARY KEY (kind, token),
                UNIQUE (kind, subject_id)
            )""",
            "CREATE INDEX subject_aliases_subject ON subject_aliases(subject_id)",
        ),
    ),
    Migration(
        3,
        "cameras, sightings, location-history requests, crowd buckets",
        (
            """CREATE TABLE cameras (
                camera_id text COLLATE "C" PRIMARY KEY,
                name text COLLATE "C" NOT NULL UNIQUE,
                location text NOT NULL,
                latitude double precision,
                longitude double precision,
                watchlists text NOT NULL,
                sensitive boolean NOT NULL,
                retention_hours integer,
                source text,
                keep_thumbnails boolean NOT NULL,
                created_at timestamptz NOT NULL
            )""",
            """CREATE TABLE sightings (
                sighting_id text COLLATE "C" PRIMARY KEY,
                subject_id text COLLATE "C" NOT NULL
                    REFERENCES subjects(subject_id) ON DELETE CASCADE,
                camera_id text COLLATE "C" NOT NULL
                    REFERENCES cameras(camera_id) ON DELETE CASCADE,
                watchlist_id text COLLATE "C" NOT NULL,
                first_seen timestamptz NOT NULL,
                last_seen timestamptz NOT NULL,
                best_similarity double precision NOT NULL,
                expires_at timestamptz NOT NULL,
                thumbnail bytea
            )""",
            "CREATE INDEX sightings_subject ON sightings(subject_id, last_seen)",
            "CREATE INDEX sightings_camera ON sightings(camera_id, first_seen)",
            "CREATE INDEX sightings_expiry ON sightings(expires_at)",
            """CREATE TABLE history_requests (
                request_id text COLLATE "C" PRIMARY KEY,
                subject_id text COLLATE "C" NOT NULL
                    REFERENCES subjects(subject_id) ON DELETE CASCADE,
                hours integer NOT NULL,
                case_reference text NOT NULL,
                requested_by text NOT NULL,
                created_at timestamptz NOT NULL,
                approved_by text,
                approved_at timestamptz
            )""",
            """CREATE TABLE crowd_buckets (
                camera_id text COLLATE "C" NOT NULL
                    REFERENCES cameras(camera_id) ON DELETE CASCADE,
                start timestamptz NOT NULL,
                seconds integer NOT NULL,
                frames integer NOT NULL,
                faces_max integer NOT NULL,
                faces_mean double precision NOT NULL,
                people_max integer NOT NULL,
                people_mean double precision NOT NULL,
                unique_visitors integer NOT NULL,
                dwell text NOT NULL,
                heatmap text NOT NULL,
                PRIMARY KEY (camera_id, start)
            )""",
        ),
    ),
    Migration(
        4,
        "camera sources sealed at rest",
        (
            "ALTER TABLE cameras ADD COLUMN sealed_source bytea",
            "ALTER TABLE cameras RENAME COLUMN source TO legacy_source",
        ),
    ),
)
