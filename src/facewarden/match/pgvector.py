"""A vector index inside PostgreSQL: pgvector's HNSW (cosine) over protected templates.

Opt-in and PostgreSQL only: built explicitly (``benchmarks/gallery.py``
measures it). The *gallery's* pgvector index is another table, the store's
``face_vectors``, written in the same transaction as each encrypted template
and searched by :class:`facewarden.service.gallery_pg.PgVectorGallery`; it
ranks its candidates with :func:`rank_groups` and :func:`widening_search`
from here.

**What is and is not protected here.** The store keeps every template as an
AES-256-GCM ciphertext; pgvector cannot index ciphertexts, so this table
holds the *protected* templates in the clear: the output of the deployment's
secret orthogonal transform (:mod:`facewarden.privacy.template`), never the
raw embeddings. A copy of this table alone cannot be matched against faces
or against another deployment's templates, but whoever also holds the
template seed from the key directory can invert the transform, and the
protected templates still match each other. Keys, groups and namespaces
are the same random opaque ids as everywhere (face, subject and watchlist
ids). The table is a derived index: it is not part of backups
(:meth:`~facewarden.store.postgres.PostgresStore.backup` copies the
encrypted templates), and can be dropped and rebuilt from them at any time.

One table (``vector_index``) holds every namespace (watchlist); a search
filters on its namespace, with pgvector's iterative index scan so a
selective filter still yields enough rows. The candidates' similarities come
from pgvector's exact float32 cosine distance and are ranked into distinct
groups as :class:`~facewarden.match.index.ExactIndex` does, widening the
candidate list when too few groups came back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from facewarden.match.index import Hit, checked_batch
from facewarden.store._dialect import POSTGRES
from facewarden.store._pg_admin import connect

__all__ = ["TABLE", "Candidate", "PgVectorIndex", "rank_groups", "widening_search"]

TABLE = "vector_index"
_COPY_BATCH = 10_000


#: One row a nearest-neighbour query returned: ``(key, group, similarity)``.
Candidate = tuple[str, str, float]


def rank_groups(candidates: Iterable[Candidate], k: int) -> list[Hit]:
    """The best ``k`` distinct groups among candidate rows, each with its most similar key."""
    hits: list[Hit] = []
    seen: set[str] = set()
    for key, group, similarity in sorted(candidates, key=lambda c: -c[2]):
        if group in seen:
            continue
        seen.add(group)
        hits.append(Hit(group, key, similarity))
        if len(hits) == k:
            break
    return hits


def widening_search(
    fetch: Callable[[int], Sequence[Candidate]], k: int, candidates: int = 100
) -> list[Hit]:
    """Rank ``fetch(n)``'s nearest rows into ``k`` groups, fetching 4x more while too few came.

    A group with many keys (a subject enrolled with many photos) can fill the
    first rows; widening stops once ``k`` groups are found or fewer than
    ``n`` rows came back (nothing more to find).
    """
    count = max(candidates, 4 * k)
    while True:
        rows = fetch(count)
        hits = rank_groups(rows, k)
        if len(hits) == k or len(rows) < count:
            return hits
        count *= 4


class PgVectorIndex:
    """The vectors of one namespace in pgvector, behind the ``VectorIndex`` protocol.

    Args:
        url: the PostgreSQL database (the store's).
        namespace: which index in the shared table (a watchlist id).
        dim: the vector dimension.
        ef_search: ``hnsw.ef_search`` for queries (at least ``candidates``).
        candidates: rows fetched and ranked per probe.
        create_index: create the HNSW index now if missing (a bulk load
            is faster without it: load, then call :meth:`build_index`).
    """

    def __init__(
        self,
        url: str,
        namespace: str,
        dim: int,
        *,
        ef_search: int = 200,
        candidates: int = 100,
        create_index: bool = True,
    ) -> None:
        self._namespace = namespace
        self._dim = dim
        self.ef_search = ef_search
        self.candidates = candidates
        self._lock = threading.Lock()
        self._conn = connect(url)
        with POSTGRES.translated("pgvector setup"):
            self._conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            from pgvector.psycopg import register_vector

            register_vector(self._conn)
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} ("
                'namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, '
                f'grp text COLLATE "C" NOT NULL, embedding vector({int(dim)}) NOT NULL, '
                "PRIMARY KEY (namespace, key))"
            )
        if create_index:
            self.build_index()

    def __repr__(self) -> str:
        return f"PgVectorIndex(namespace={self._namespace!r}, dim={self._dim})"

    def build_index(
        self, *, m: int = 16, ef_construction: int = 64, memory_mb: int | None = None
    ) -> None:
        """Create the HNSW (cosine) index if missing; slow on a large table, done once.

        Args:
            m: graph degree.
            ef_construction: breadth of the search while inserting.
            memory_mb: ``maintenance_work_mem`` for the build; the build is far
                faster when the whole graph fits (about 1 KB per 128-d vector).
        """
        with self._lock, POSTGRES.translated("pgvector index"), self._conn.transaction():
            if memory_mb is not None:
                self._conn.execute(f"SET LOCAL maintenance_work_mem = '{int(memory_mb)}MB'")
            self._conn.execute(
                f"CREATE INDEX IF NOT EXISTS {TABLE}_hnsw ON {TABLE} "
                f"USING hnsw (embedding vector_cosine_ops) "
                f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"
            )
        # Statistics now, not whenever autovacuum gets to it: without them the
        # planner guesses a namespace holds 0.5% of the table and answers by
        # sorting the whole namespace (exact, and 20x slower at 100k).
        with self._lock, POSTGRES.translated("pgvector analyze"):
            self._conn.execute(f"ANALYZE {TABLE}")

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        row = self._one(f"SELECT count(*) AS n FROM {TABLE} WHERE namespace = %s", ())  # noqa: S608
        return 0 if row is None else int(row["n"])

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        found = self._one(
            f"SELECT 1 FROM {TABLE} WHERE namespace = %s AND key = %s",  # noqa: S608
            (key,),
        )
        return found is not None

    def _one(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock, POSTGRES.translated("pgvector read"):
            cursor = self._conn.execute(sql, (self._namespace, *params))
            row: dict[str, Any] | None = cursor.fetchone()
            return row

    def add(self, keys: Sequence[str], groups: Sequence[str], vectors: npt.ArrayLike) -> None:
        """Store vectors under new keys (one transaction, COPY in batches).

        Raises:
            ValueError: lengths or shape differ, or a vector is not finite.
            ConflictError: a key is already stored.
        """
        matrix = checked_batch(keys, groups, vectors, self._dim)
        with self._lock, POSTGRES.translated("pgvector add"), self._conn.transaction():
            cursor = self._conn.cursor()
            with cursor.copy(
                f"COPY {TABLE} (namespace, key, grp, embedding) FROM STDIN (FORMAT binary)"
            ) as copy:
                copy.set_types(["text", "text", "text", "vector"])
                for key, group, vector in zip(keys, groups, matrix, strict=True):
                    copy.write_row((self._namespace, key, group, vector))

    def remove(self, keys: Iterable[str]) -> int:
        with self._lock, POSTGRES.translated("pgvector remove"):
            cursor = self._conn.execute(
                f"DELETE FROM {TABLE} WHERE namespace = %s AND key = ANY(%s)",  # noqa: S608
                (self._namespace, list(keys)),
            )
            return cursor.rowcount

    def remove_groups(self, groups: Iterable[str]) -> int:
        with self._lock, POSTGRES.translated("pgvector remove"):
            cursor = self._conn.execute(
                f"DELETE FROM {TABLE} WHERE namespace = %s AND grp = ANY(%s)",  # noqa: S608
                (self._namespace, list(groups)),
            )
            return cursor.rowcount

    def clear(self) -> None:
        """Drop every vector of this namespace."""
        with self._lock, POSTGRES.translated("pgvector clear"):
            self._conn.execute(f"DELETE FROM {TABLE} WHERE namespace = %s", (self._namespace,))  # noqa: S608

    def search(self, queries: npt.ArrayLike, k: int) -> list[list[Hit]]:
        """The ``k`` most similar distinct groups for each query row, best first.

        Raises:
            ValueError: ``k`` is not positive or the queries have the wrong shape.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        probes = np.asarray(queries, dtype=np.float32)
        if probes.ndim == 1:
            probes = probes[np.newaxis, :]
        if probes.ndim != 2 or probes.shape[1] != self._dim:
            raise ValueError(f"queries must have shape (n, {self._dim}), got {probes.shape}")
        results: list[list[Hit]] = []
        with self._lock, POSTGRES.translated("pgvector search"), self._conn.transaction():
            self._conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
            for probe in probes:
                results.append(widening_search(partial(self._query, probe), k, self.candidates))
        return results

    def _query(self, probe: npt.NDArray[np.float32], count: int) -> list[Candidate]:
        # pgvector caps ef_search at 1000; the iterative scan goes on past it.
        ef = min(1000, max(self.ef_search, count))
        self._conn.execute(f"SET LOCAL hnsw.ef_search = {int(ef)}")
        rows = self._conn.execute(
            f"SELECT key, grp, 1 - (embedding <=> %(p)s) AS similarity FROM {TABLE} "  # noqa: S608
            "WHERE namespace = %(ns)s ORDER BY embedding <=> %(p)s LIMIT %(n)s",
            {"p": probe, "ns": self._namespace, "n": count},
        ).fetchall()
        return [(r["key"], r["grp"], float(r["similarity"])) for r in rows]

    def close(self) -> None:
        """Close the connection; idempotent."""
        with self._lock:
            self._conn.close()
