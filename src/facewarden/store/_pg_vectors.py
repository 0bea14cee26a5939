"""PostgreSQL only: the faces' protected templates in ``face_vectors``, searched by pgvector.

Private to :mod:`facewarden.store.postgres`: :class:`VectorReads` is mixed
into the store and its transactions, :class:`VectorWrites` into the
transactions. SQLite has no such table in use: its gallery is the in-memory
index (its transactions' :meth:`put_face_vector` does nothing).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from facewarden.errors import NotFoundError
from facewarden.store._queries import PAGE, Queries
from facewarden.store._read import TEMPLATES_SQL
from facewarden.store.base import TemplateRow

__all__ = ["VectorReads", "VectorWrites", "nearest_faces_sql", "vector_literal"]


def nearest_faces_sql(dim: int) -> str:
    """The query of :meth:`VectorReads.nearest_faces` for ``dim``-d vectors.

    Parameters: ``p`` the probe (pgvector text), ``e`` the embedder, ``w`` the
    watchlist id, ``n`` how many rows. The dimension is spliced as an integer
    literal: the partial HNSW index's predicate must be matched by a constant.
    """
    dim = int(dim)
    return (
        "SELECT v.face_id, v.subject_id, "  # noqa: S608
        f"1 - (v.embedding::vector({dim}) <=> %(p)s::vector({dim})) AS similarity "
        "FROM face_vectors v "
        f"WHERE vector_dims(v.embedding) = {dim} AND split_part(v.model, '+', 1) = %(e)s "
        "AND EXISTS (SELECT 1 FROM memberships m "
        "WHERE m.watchlist_id = %(w)s AND m.subject_id = v.subject_id) "
        f"ORDER BY v.embedding::vector({dim}) <=> %(p)s::vector({dim}) LIMIT %(n)s"
    )


def vector_literal(vector: npt.ArrayLike) -> str:
    """A float32 vector as pgvector's text form (``[0.1,...]``), exact to the last bit.

    Raises:
        ValueError: a value is not finite.
    """
    values = np.asarray(vector, dtype=np.float32).ravel()
    if not np.all(np.isfinite(values)):
        raise ValueError("vectors hold NaN or infinite values")
    # repr of the float64 holding a float32 round-trips through pgvector's strtof.
    return "[" + ",".join(repr(float(x)) for x in values) + "]"


class VectorReads(Queries):
    """Searching and counting the face vectors."""

    def nearest_faces(
        self,
        watchlist_id: str,
        embedder: str,
        probe: npt.ArrayLike,
        count: int,
        *,
        ef_search: int = 200,
    ) -> list[tuple[str, str, float]]:
        """``(face_id, subject_id, similarity)`` of the ``count`` nearest face vectors.

        Only faces of the watchlist's members whose model was made by
        ``embedder`` (the part of the model key before ``+``), nearest
        first, by pgvector's HNSW index (cosine) when the planner finds it
        cheaper than reading the members' rows, with its iterative scan so
        the membership filter still yields ``count`` rows when there are.
        """
        literal = vector_literal(probe)
        dim = literal.count(",") + 1
        ef = min(1000, max(int(ef_search), int(count)))  # pgvector's ceiling
        with self._lock, self._dialect.translated("vector search"):
            conn = self._get_conn()
            with conn.transaction():
                conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
                conn.execute(f"SET LOCAL hnsw.ef_search = {ef}")
                rows = conn.execute(
                    nearest_faces_sql(dim),
                    {"p": literal, "e": embedder, "w": watchlist_id, "n": int(count)},
                ).fetchall()
        return [(r["face_id"], r["subject_id"], float(r["similarity"])) for r in rows]

    def count_face_vectors(
        self, *, watchlist_id: str | None = None, embedder: str | None = None
    ) -> int:
        """Face vectors searchable in one watchlist, or summed over all of them.

        A face in two watchlists counts twice, as in the in-memory gallery;
        with ``embedder``, only faces whose model it made.
        """
        return self._count(
            "SELECT COUNT(*) AS n FROM face_vectors v JOIN memberships m USING (subject_id) "
            "WHERE (?::text IS NULL OR m.watchlist_id = ?) "
            "AND (?::text IS NULL OR split_part(v.model, '+', 1) = ?)",
            (watchlist_id, watchlist_id, embedder, embedder),
        )

    def templates_without_vectors(self, *, after: str = "", limit: int = PAGE) -> list[TemplateRow]:
        """One page, by face id after ``after``, of templates not yet in ``face_vectors``."""
        return self._all(
            TemplateRow,
            f"{TEMPLATES_SQL} WHERE f.face_id > ? AND NOT EXISTS "  # noqa: S608
            "(SELECT 1 FROM face_vectors v WHERE v.face_id = f.face_id) "
            "ORDER BY f.face_id LIMIT ?",
            (after, limit),
        )


class VectorWrites(Queries):
    """Writing a face's protected template where pgvector indexes it."""

    def put_face_vector(self, face_id: str, vector: npt.ArrayLike) -> None:
        # Subject and model are copied from the face row, so they cannot disagree with it.
        if not self._changed(
            "store face vector",
            "INSERT INTO face_vectors (face_id, subject_id, model, embedding) "
            "SELECT face_id, subject_id, model, ?::vector FROM faces WHERE face_id = ? "
            "ON CONFLICT (face_id) DO UPDATE SET embedding = excluded.embedding",
            (vector_literal(vector), face_id),
        ):
            raise NotFoundError(f"no face {face_id}")
