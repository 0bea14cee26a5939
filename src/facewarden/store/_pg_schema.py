"""How the PostgreSQL store writes the shared migrations, and its pgvector DDL.

The statements are those of :mod:`facewarden.store.migrations`, in
PostgreSQL's types (:data:`POSTGRES_SCHEMA`; ``"C"`` collation makes ids and
names compare byte-wise, as on SQLite).

Version 5 adds ``face_vectors``: every face's protected template (the
output of the deployment's secret transform, *not* encrypted: pgvector must
read it) in a pgvector column with an HNSW (cosine) index, written in the
same transaction as the encrypted template and deleted with its face. The
``gallery_index = "pgvector"`` gallery searches it
(:mod:`facewarden.service.gallery_pg`); the encrypted ``faces.template``
stays the record it is derived from. The extension and the indexes are
PostgreSQL's alone; SQLite makes the same table and leaves it empty.

The table of :class:`~facewarden.match.pgvector.PgVectorIndex` (a
benchmark's namespaced index) is not here: it is made on demand.
"""

from __future__ import annotations

from facewarden.store.migrations import Migration, SchemaDialect, migrations_for

__all__ = ["FACE_VECTOR_INDEX", "PG_MIGRATIONS", "POSTGRES_SCHEMA"]

#: The HNSW (cosine) index over the ``face_vectors`` of one dimension; a
#: search must say ``vector_dims(embedding) = <dim>`` and order by
#: ``embedding::vector(<dim>) <=> probe`` to use it.
FACE_VECTOR_INDEX = (
    "CREATE INDEX IF NOT EXISTS face_vectors_hnsw_{dim} ON face_vectors "
    "USING hnsw ((embedding::vector({dim})) vector_cosine_ops) "
    "WHERE vector_dims(embedding) = {dim}"
)

POSTGRES_SCHEMA = SchemaDialect(
    types={
        "key": 'text COLLATE "C"',
        "text": "text",
        "time": "timestamptz",
        "bytes": "bytea",
        "flag": "boolean",
        "false": "false",
        "int": "integer",
        "bigint": "bigint",
        "real": "double precision",
        "row_order": "bigint GENERATED ALWAYS AS IDENTITY",
        # Untyped, so one schema serves every embedder's dimension; HNSW
        # needs a fixed one, hence one partial expression index per
        # dimension: 128 (the dlib-compatible embedders) in version 5,
        # others made by the pgvector gallery when it opens (face_vector_index()).
        "vector": "vector",
        "without_rowid": "",
    },
    before={
        # Not a trusted extension: creating it needs a superuser (or an
        # administrator who ran CREATE EXTENSION vector beforehand);
        # open_postgres says so before migrating.
        5: ("CREATE EXTENSION IF NOT EXISTS vector",),
    },
    after={
        5: (
            FACE_VECTOR_INDEX.format(dim=128),
            # Lets the planner answer a small watchlist exactly, from its members' rows.
            "CREATE INDEX face_vectors_subject ON face_vectors(subject_id)",
        ),
    },
)

#: The steps of :data:`facewarden.store.migrations.STEPS` as PostgreSQL runs them.
PG_MIGRATIONS: tuple[Migration, ...] = migrations_for(POSTGRES_SCHEMA)
