"""Schema migrations of the PostgreSQL store, numbered as the SQLite ones.

Version *n* here makes the same tables, columns and constraints as version
*n* of :mod:`facewarden.store.migrations`, in PostgreSQL's types: ``bytea``
for ciphertexts, ``timestamptz`` for times, ``boolean`` for flags, and a
``bigint`` identity for the audit log's storage order. A migration that adds
tables to one backend adds them to the other under the same number;
``tests/store/test_postgres.py`` checks that the two lists stay aligned.

Version 5 adds ``face_vectors``: every face's protected template (the
output of the deployment's secret transform, *not* encrypted: pgvector must
read it) in a pgvector column with an HNSW (cosine) index, written in the
same transaction as the encrypted template and deleted with its face. The
``gallery_index = "pgvector"`` gallery searches it
(:mod:`facewarden.service.gallery_pg`); the encrypted ``faces.template``
stays the record it is derived from. SQLite makes the same table (to keep
the schemas alike) and leaves it empty.

The table of :class:`~facewarden.match.pgvector.PgVectorIndex` (a
benchmark's namespaced index) is not here: it is made on demand.
"""

from __future__ import annotations

from facewarden.store.migrations import Migration

__all__ = ["FACE_VECTOR_INDEX", "PG_MIGRATIONS"]

#: The HNSW (cosine) index over the ``face_vectors`` of one dimension; a
#: search must say ``vector_dims(embedding) = <dim>`` and order by
#: ``embedding::vector(<dim>) <=> probe`` to use it.
FACE_VECTOR_INDEX = (
    "CREATE INDEX IF NOT EXISTS face_vectors_hnsw_{dim} ON face_vectors "
    "USING hnsw ((embedding::vector({dim})) vector_cosine_ops) "
    "WHERE vector_dims(embedding) = {dim}"
)

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
    Migration(
        5,
        "protected templates in a pgvector column",
        (
            # Not a trusted extension: creating it needs a superuser (or an
            # administrator who ran CREATE EXTENSION vector beforehand);
            # open_postgres says so before migrating.
            "CREATE EXTENSION IF NOT EXISTS vector",
            # Untyped, so one schema serves every embedder's dimension; HNSW
            # needs a fixed one, hence one partial expression index per
            # dimension: 128 (the dlib-compatible embedders) here, others made
            # by the pgvector gallery when it opens (face_vector_index()).
            """CREATE TABLE face_vectors (
                face_id text COLLATE "C" PRIMARY KEY
                    REFERENCES faces(face_id) ON DELETE CASCADE,
                subject_id text COLLATE "C" NOT NULL,
                model text NOT NULL,
                embedding vector NOT NULL
            )""",
            FACE_VECTOR_INDEX.format(dim=128),
            # Lets the planner answer a small watchlist exactly, from its members' rows.
            "CREATE INDEX face_vectors_subject ON face_vectors(subject_id)",
        ),
    ),
    Migration(
        6,
        "alert decisions and location-history request notes",
        (
            """CREATE TABLE alert_decisions (
                sighting_id text COLLATE "C" PRIMARY KEY
                    REFERENCES sightings(sighting_id) ON DELETE CASCADE,
                decision text NOT NULL,
                decided_by text NOT NULL,
                decided_at timestamptz NOT NULL,
                note bytea
            )""",
            """CREATE TABLE history_request_notes (
                request_id text COLLATE "C" PRIMARY KEY
                    REFERENCES history_requests(request_id) ON DELETE CASCADE,
                reason bytea,
                refused_by text,
                refused_at timestamptz
            )""",
            "CREATE INDEX history_requests_created ON history_requests(created_at)",
        ),
    ),
)
